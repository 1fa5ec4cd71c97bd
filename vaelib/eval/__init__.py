"""Evaluation tools beyond the test metrics of vaelib.metrics: what the notebooks use to judge trained models."""
