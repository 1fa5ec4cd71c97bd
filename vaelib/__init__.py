"""vaelib."""
