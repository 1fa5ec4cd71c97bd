"""Models: one file per family, a registry to rebuild any of them from its config.

Each family returns its own terms from forward() (ELBOTerms for the VAE and the GM-VAE, WAETerms,
VQTerms) and declares what it is: TERMS, RATE, METRICS, SETTINGS, USES_BETA (see vaelib.models.vae.VAE).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from vaelib.models.networks import ConvDecoder, ConvEncoder, FCDecoder, FCEncoder, MLP
from vaelib.models.arvae import ARVAE
from vaelib.models.gmvae import GMVAE
from vaelib.models.hvae import HVAE
from vaelib.models.m1m2 import M1M2
from vaelib.models.semisup import CVAE, M2
from vaelib.models.vae import VAE, ModelConfig
from vaelib.models.vqvae import VQVAE, VQTerms
from vaelib.models.wae import WAE, WAETerms
from vaelib.losses import ELBOTerms

__all__ = [
    "MODELS", "VAE", "ARVAE", "HVAE", "CVAE", "M2", "M1M2", "WAE", "GMVAE", "VQVAE", "ModelConfig", "ELBOTerms", "WAETerms", "VQTerms",
    "build_model", "count_parameters", "FCEncoder", "FCDecoder", "ConvEncoder", "ConvDecoder", "MLP",
]

#: model family name (ModelConfig.kind) -> class taking a ModelConfig
MODELS: dict[str, type[nn.Module]] = {"vae": VAE, "wae": WAE, "gm-vae": GMVAE, "vq-vae": VQVAE, "ar-vae": ARVAE, "hvae": HVAE, "cvae": CVAE, "m2": M2,
                                    "m1m2": M1M2}


def build_model(config: ModelConfig | dict[str, Any]) -> nn.Module:
    """Build a model from its config (a ModelConfig or the dict stored in a checkpoint)."""
    if isinstance(config, dict):
        config = ModelConfig.from_dict(config)
    if config.kind not in MODELS:
        raise ValueError(f"unknown model kind {config.kind!r}; known: {sorted(MODELS)}")
    return MODELS[config.kind](config)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


