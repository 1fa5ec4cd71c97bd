"""Named experiments: every experiment of the seed documents that a VAE can express.

    from vaelib.presets import get_preset
    p = get_preset("pytorch-example")
    train(p.model, p.train, out_dir="runs/pytorch-example")

"Grey BCE" means a Bernoulli decoder scored against grey values in [0, 1] (what pytorch/examples
and most seeds do: not a normalised likelihood, but the usual "BCE loss"). "Dynamic" means a
fresh Bernoulli binarization per batch (a true Bernoulli likelihood; evaluated on a fixed
binarization). "MSE" is a Gaussian likelihood with fixed σ² = 1/2: then -log p(x|z) equals
Σ(x - x̂)² plus a constant, which is exactly `F.mse_loss(reduction="sum")`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from vaelib.models import ModelConfig
from vaelib.train import TrainConfig

MSE_SIGMA = math.sqrt(0.5)  # σ at which the Gaussian NLL is the summed squared error


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    source: str  # which seed document it reproduces
    model: ModelConfig
    train: TrainConfig


def _p(name: str, description: str, source: str, model: ModelConfig, train: TrainConfig) -> Preset:
    return Preset(name, description, source, model, train)


_FC400 = ModelConfig(arch="fc", hidden=(400,), latent_dim=20)  # the pytorch/examples VAE
_SEED2 = TrainConfig(epochs=10, batch_size=256, lr=1e-3)  # "Experimental Results" protocol
_VAEMNIST = TrainConfig(epochs=10, batch_size=128, lr=1e-3)
_BG = ModelConfig(arch="fc", hidden=(400, 400), latent_dim=40)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        # pytorch/examples trains on all 60,000 training images (no validation split): so do we,
        # so that its test loss (~105.6 nats at epoch 10) is a like-for-like anchor.
        _p("pytorch-example", "784-400-20, grey BCE, batch 128, Adam 1e-3, 10 epochs, all 60k images: "
           "pytorch/examples' VAE", "pytorch/examples vae/main.py (parity anchor)", _FC400,
           TrainConfig(epochs=10, batch_size=128, val_size=0)),
        _p("bernoulli-vae", "784-400-400-40, Bernoulli likelihood on dynamically binarized digits",
           "bernoulli_gaussian_vae", _BG, TrainConfig(epochs=20, batch_size=256, targets="dynamic")),
        _p("gaussian-vae", "784-400-400-40, Gaussian likelihood with one learned σ, grey digits",
           "bernoulli_gaussian_vae",
           replace(_BG, likelihood="gaussian", sigma="learned", sigma_value=0.1),
           TrainConfig(epochs=20, batch_size=256)),
        _p("fnn-bce", "fully connected 784-400-20, grey BCE", "VAE-MNIST", _FC400, _VAEMNIST),
        _p("fnn-mse", "fully connected 784-400-20, MSE (Gaussian, σ² = 1/2)", "VAE-MNIST",
           replace(_FC400, likelihood="gaussian", sigma_value=MSE_SIGMA), _VAEMNIST),
        _p("cnn-bce", "convolutional encoder/decoder, z = 20, grey BCE", "VAE-MNIST",
           replace(_FC400, arch="conv"), _VAEMNIST),
        _p("cnn-mse", "convolutional encoder/decoder, z = 20, MSE (Gaussian, σ² = 1/2)", "VAE-MNIST",
           replace(_FC400, arch="conv", likelihood="gaussian", sigma_value=MSE_SIGMA), _VAEMNIST),
        _p("vae-std-z20", "pytorch/examples VAE, z = 20", "Experimental Results: vae_std_z20", _FC400, _SEED2),
        _p("vae-std-z20-res", "z = 20, a residual 400-400 block added to the encoder",
           "Experimental Results: vae_std_z20_res",
           replace(_FC400, hidden=(400, 400), residual=True, decoder_hidden=(400,)), _SEED2),
        _p("vae-std-z40", "pytorch/examples VAE, z = 40", "Experimental Results: vae_std_z40",
           replace(_FC400, latent_dim=40), _SEED2),
        _p("vae-conv", "convolutional VAE, z = 20", "Experimental Results: vae_conv",
           replace(_FC400, arch="conv"), _SEED2),
        _p("beta-vae-4", "β = 4", "Experimental Results: beta_vae_4", replace(_FC400, beta=4.0), _SEED2),
        _p("beta-vae-2", "β = 2", "Experimental Results: beta_vae_2", replace(_FC400, beta=2.0), _SEED2),
        _p("beta-vae-0.5", "β = 0.5", "Experimental Results: beta_vae_0.5", replace(_FC400, beta=0.5), _SEED2),
        # the other autoencoders of "Experimental Results", under the same protocol (notebook 08)
        _p("wae", "Wasserstein autoencoder (MMD, inverse multiquadratic kernel, λ = 100), 784-400-20, "
           "deterministic encoder", "Experimental Results: WAE",
           replace(_FC400, kind="wae", extra={"mmd_lambda": 100.0}), _SEED2),
        _p("gm-vae", "Gaussian-mixture VAE: 10 learned prior components, categorical q(y | x), 784-400-20",
           "Experimental Results: GM-VAE", replace(_FC400, kind="gm-vae", extra={"components": 10}), _SEED2),
        _p("vq-vae", "VQ-VAE: conv encoder to a 7 x 7 grid of 16-d vectors, 64 codes (EMA), causal "
           "Transformer prior over the codes", "Experimental Results: VQ-VAE (not reported there)",
           replace(_FC400, kind="vq-vae", arch="conv", latent_dim=16, extra={"codebook_size": 64}), _SEED2),
        _p("latent2-bn-dropout",
           "784-256-128-2 with batch norm and dropout, LR schedule and early stopping on validation",
           "VariationalAutoencoders (2-D latent)",
           ModelConfig(arch="fc", hidden=(256, 128), latent_dim=2, batch_norm=True, dropout=0.1),
           TrainConfig(epochs=50, batch_size=128, scheduler="plateau", scheduler_patience=2,
                       early_stopping=5)),
        _p("activity-z2", "784-400-2, grey BCE, batch 128, 20 epochs: the VAE activity report",
           "vae_activity report", replace(_FC400, latent_dim=2), TrainConfig(epochs=20, batch_size=128)),
    ]
}


def get_preset(name: str) -> Preset:
    """The preset of that name; KeyError listing the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


def variant(base: str, name: str, **model_changes) -> Preset:
    """A preset with some model settings changed, under its own name (so its cache folder says
    what it is): e.g. variant("vae-std-z20", "vae-std-z20-beta-8", beta=8.0). The training is the base's."""
    p = get_preset(base)
    changes = ", ".join(f"{k} = {v}" for k, v in model_changes.items())
    return Preset(name, f"{p.description}; {changes}", f"variant of {base}", replace(p.model, **model_changes), p.train)
