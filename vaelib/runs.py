"""The run registry: every model the series trains, by name, defined once.

    from vaelib.runs import get_run
    model_cfg, train_cfg = get_run("gaussian-sigma-0.1").configs()   # test=True: the notebooks' fast mode

A **preset** is an experiment of the source documents: a model and how to train it. A **run** is a
preset plus named changes (a σ-sweep member, two epochs instead of ten) and its test-mode size;
every preset is also a run of the same name. Notebooks, the cache, the CLI and `session.run(NAME)`
ask for runs by name, so a run is defined here and nowhere else. `SWEEPS` names the runs that
differ in one setting. No torch import: the CLI checks names against it in a fraction of a second.

"Grey BCE": a Bernoulli decoder scored against grey values in [0, 1] (pytorch/examples' "BCE loss",
not a normalised likelihood). "Dynamic": a fresh Bernoulli binarization per batch (a true Bernoulli
likelihood). "MSE": a Gaussian with fixed σ² = 1/2, where -log p(x|z) is Σ(x - x̂)² plus a constant,
exactly `F.mse_loss(reduction="sum")`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from vaelib.models import ModelConfig
    from vaelib.train import TrainConfig

__all__ = ["Preset", "Run", "PRESETS", "RUNS", "SWEEPS", "REPLICAS", "REPLICA_SEEDS", "MORE_SEEDS", "LABEL_SEEDS",
           "SEED_NOTEBOOK", "seeds_of", "TEST_SUBSET", "TEST_SUBSET_CONV", "TEST_IWAE", "MSE_SIGMA", "get_preset",
           "get_run"]

MSE_SIGMA = math.sqrt(0.5)  # σ at which the Gaussian NLL is the summed squared error
#: test mode: images per split, fewer for convolutional models (slow on a CPU), and a cheap IWAE
TEST_SUBSET, TEST_SUBSET_CONV = 2000, 500
TEST_IWAE = {"iwae_k": 10, "iwae_n": 200}


@dataclass(frozen=True)
class Preset:
    """An experiment of the source documents: ModelConfig and TrainConfig settings, by name."""

    name: str
    description: str
    source: str  # which source document it reproduces
    model_settings: dict[str, Any]
    train_settings: dict[str, Any]

    @property
    def model(self) -> "ModelConfig":
        from vaelib.models import ModelConfig  # noqa: PLC0415  (torch: only when asked)

        return ModelConfig(**self.model_settings)

    @property
    def train(self) -> "TrainConfig":
        from vaelib.train import TrainConfig  # noqa: PLC0415

        return TrainConfig(**self.train_settings)


@dataclass(frozen=True)
class Run:
    """A preset with named changes and its test-mode size: one trained model of the series."""

    name: str
    preset: str
    notebook: str  # the notebook that trains it first (others load it from the cache)
    model_changes: dict[str, Any] = field(default_factory=dict)
    train_changes: dict[str, Any] = field(default_factory=dict)
    test_epochs: int = 1
    test_subset: int | None = None  # None: TEST_SUBSET, or TEST_SUBSET_CONV for a convolutional model
    about: str = ""  # what this run is, where it differs from its preset (else the preset's description)
    continues: str | None = None  # a shorter run of the same configs: this one trains on from its checkpoint
    long: bool = False  # a GPU-length run (Burda et al.'s protocol), trained only by benchmarks/burda_gpu.py

    @property
    def description(self) -> str:
        return self.about or PRESETS[self.preset].description

    def configs(self, test: bool = False) -> tuple["ModelConfig", "TrainConfig"]:
        """The (ModelConfig, TrainConfig) of this run, in full or in test mode."""
        from vaelib.models import ModelConfig  # noqa: PLC0415
        from vaelib.train import TrainConfig  # noqa: PLC0415

        p = PRESETS[self.preset]
        model = ModelConfig(**{**p.model_settings, **self.model_changes})
        train = {**p.train_settings, **self.train_changes}
        if test:
            subset = self.test_subset or (TEST_SUBSET_CONV if model.arch == "conv" else TEST_SUBSET)
            train.update(epochs=self.test_epochs, subset=subset, **TEST_IWAE)
        return model, TrainConfig(**train)


_FC400 = dict(arch="fc", hidden=(400,), decoder_hidden=(400,), latent_dim=20)  # the pytorch/examples VAE
_BG = dict(arch="fc", hidden=(400, 400), decoder_hidden=(400, 400), latent_dim=40)
_EXPERIMENTAL_RESULTS = dict(epochs=10, batch_size=256, lr=1e-3)  # "Experimental Results" protocol
_VAEMNIST = dict(epochs=10, batch_size=128, lr=1e-3)
#: 12's seed-0 models are trained on to this many epochs (15, not 20: 12 then trains in 15 minutes)
BURDA_LONG_EPOCHS = 15
#: 10's KL warm-up: β from 0 to 1 over the first 5 of 10 epochs (196 steps of batch 256 per epoch)
WARMUP_STEPS = 5 * 196
M1M2_EPOCHS = 30

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        # pytorch/examples trains on all 60,000 training images (no validation split): so do we,
        # so that its test loss (~105.6 nats at epoch 10) is a like-for-like anchor.
        Preset("pytorch-example", "784-400-20, grey BCE, batch 128, Adam 1e-3, 10 epochs, all 60k images: "
               "pytorch/examples' VAE", "pytorch/examples vae/main.py (parity anchor)", _FC400,
               dict(epochs=10, batch_size=128, val_size=0)),
        Preset("bernoulli-vae", "784-400-400-40, Bernoulli likelihood on dynamically binarized digits",
               "bernoulli_gaussian_vae", _BG, dict(epochs=20, batch_size=256, targets="dynamic")),
        Preset("gaussian-vae", "784-400-400-40, Gaussian likelihood with one learned σ, grey digits",
               "bernoulli_gaussian_vae", dict(_BG, likelihood="gaussian", sigma="learned", sigma_value=0.1),
               dict(epochs=20, batch_size=256)),
        Preset("fnn-bce", "fully connected 784-400-20, grey BCE", "VAE-MNIST", _FC400, _VAEMNIST),
        Preset("fnn-mse", "fully connected 784-400-20, MSE (Gaussian, σ² = 1/2)", "VAE-MNIST",
               dict(_FC400, likelihood="gaussian", sigma_value=MSE_SIGMA), _VAEMNIST),
        Preset("cnn-bce", "convolutional encoder/decoder, z = 20, grey BCE", "VAE-MNIST",
               dict(_FC400, arch="conv"), _VAEMNIST),
        Preset("cnn-mse", "convolutional encoder/decoder, z = 20, MSE (Gaussian, σ² = 1/2)", "VAE-MNIST",
               dict(_FC400, arch="conv", likelihood="gaussian", sigma_value=MSE_SIGMA), _VAEMNIST),
        Preset("vae-std-z20", "pytorch/examples VAE, z = 20", "Experimental Results: vae_std_z20", _FC400,
               _EXPERIMENTAL_RESULTS),
        Preset("vae-std-z20-res", "z = 20, a residual 400-400 block added to the encoder",
               "Experimental Results: vae_std_z20_res",
               dict(_FC400, hidden=(400, 400), residual=True, decoder_hidden=(400,)), _EXPERIMENTAL_RESULTS),
        Preset("vae-std-z40", "pytorch/examples VAE, z = 40", "Experimental Results: vae_std_z40",
               dict(_FC400, latent_dim=40), _EXPERIMENTAL_RESULTS),
        Preset("vae-conv", "convolutional VAE, z = 20", "Experimental Results: vae_conv",
               dict(_FC400, arch="conv"), _EXPERIMENTAL_RESULTS),
        *(Preset(f"beta-vae-{b:g}", f"β = {b:g}", f"Experimental Results: beta_vae_{b:g}", dict(_FC400, beta=b),
                 _EXPERIMENTAL_RESULTS) for b in (4.0, 2.0, 0.5)),
        # the other autoencoders of "Experimental Results", under the same protocol (notebook 09)
        Preset("wae", "Wasserstein autoencoder (MMD, inverse multiquadratic kernel, λ = 100), 784-400-20, "
               "deterministic encoder", "Experimental Results: WAE",
               dict(_FC400, kind="wae", extra={"mmd_lambda": 100.0}), _EXPERIMENTAL_RESULTS),
        Preset("gm-vae", "Gaussian-mixture VAE: 10 learned prior components, categorical q(y | x), 784-400-20",
               "Experimental Results: GM-VAE", dict(_FC400, kind="gm-vae", extra={"components": 10}),
               _EXPERIMENTAL_RESULTS),
        Preset("vq-vae", "VQ-VAE: conv encoder to a 7 x 7 grid of 16-d vectors, 64 codes (EMA), causal "
               "Transformer prior over the codes", "Experimental Results: VQ-VAE (not reported there)",
               dict(_FC400, kind="vq-vae", arch="conv", latent_dim=16, extra={"codebook_size": 64}),
               _EXPERIMENTAL_RESULTS),
        Preset("latent2-bn-dropout",
               "784-256-128-2 with batch norm and dropout, LR schedule and early stopping on validation",
               "VariationalAutoencoders (2-D latent)",
               dict(arch="fc", hidden=(256, 128), latent_dim=2, batch_norm=True, dropout=0.1),
               dict(epochs=50, batch_size=128, scheduler="plateau", scheduler_patience=2, early_stopping=5)),
        # notebook 10: a decoder strong enough to ignore z (vaelib.models.arvae), under one protocol
        Preset("ar-vae", "784-400-20 encoder, autoregressive (MADE, 500 hidden units) Bernoulli decoder given z, "
               "dynamic binarization, batch 256, Adam 3e-3, 10 epochs", "posterior collapse (notebook 10)",
               dict(_FC400, kind="ar-vae", extra={"decoder": "made", "made_hidden": 500}),
               dict(epochs=10, batch_size=256, lr=3e-3, targets="dynamic")),
        # notebook 11: labels in a VAE (vaelib.models.semisup)
        Preset("cvae", "conditional VAE: the label into encoder and decoder, 784+10-400-20, 20+10-400-784, "
               "dynamic binarization, batch 128, Adam 1e-3, 10 epochs", "Sohn et al. 2015 (notebook 11)",
               dict(_FC400, kind="cvae"), dict(epochs=10, batch_size=128, targets="dynamic")),
        Preset("m2", "M2 with 100 labelled training images (10 per class) and the rest unlabelled: classifier "
               "784-256-10, q(z | x, y) 784+10-256-50, p(x | y, z) 50+10-256-784, α = 0.1 N, dynamic "
               "binarization, batch 256, Adam 1e-3", "Kingma et al. 2014, M2 (notebook 11)",
               dict(kind="m2", arch="fc", hidden=(256,), decoder_hidden=(256,), latent_dim=50,
                    extra={"labelled": 100}),
               dict(epochs=20, batch_size=256, targets="dynamic")),
        Preset("m1m2", "M1 + M2 with the same 100 labelled images: M1 a VAE of the images (784-400-50, "
               "50-400-784), M2 on its detached codes z1 (classifier 50-256-10, q(z2 | z1, y) 50+10-256-50, "
               "Gaussian p(z1 | y, z2) 50+10-256-100), α = 0.1 N, trained together, dynamic binarization, "
               f"batch 256, Adam 1e-3, {M1M2_EPOCHS} epochs", "Kingma et al. 2014, M1 + M2 (notebook 11)",
               dict(kind="m1m2", arch="fc", hidden=(400,), latent_dim=50,
                    extra={"labelled": 100, "m2_hidden": 256, "m2_latent": 50}),
               dict(epochs=M1M2_EPOCHS, batch_size=256, targets="dynamic")),
        # notebook 12: Burda, Grosse & Salakhutdinov (2016)'s architectures (vaelib.models.hvae)
        Preset("burda-1l-vae", "one stochastic layer (784-200-200-50, tanh), ELBO, dynamic binarization, "
               "batch 100, Adam 1e-3, 10 epochs", "Burda et al. 2016, Table 1 (notebook 12)",
               dict(kind="hvae", latent_dim=50, extra={"layers": 1, "objective": "elbo", "k": 1}),
               dict(epochs=10, batch_size=100, lr=1e-3, targets="dynamic")),
        Preset("activity-z2", "784-400-2, grey BCE, batch 128, 20 epochs: the VAE activity report",
               "vae_activity report", dict(_FC400, latent_dim=2), dict(epochs=20, batch_size=128)),
    ]
}


def _ar_vae_runs() -> list[Run]:
    """Notebook 10's runs beside ar-vae: two cures for posterior collapse, a weaker decoder, two references."""
    made = {"decoder": "made", "made_hidden": 500}
    return [Run("ar-vae-warmup", "ar-vae", "10", {"extra": {**made, "warmup_steps": WARMUP_STEPS}},
                about="ar-vae with a KL warm-up: β rises linearly from 0 to 1 over the first 5 epochs"),
            Run("ar-vae-free-bits", "ar-vae", "10", {"extra": {**made, "free_bits": 0.5}},
                about="ar-vae with free bits: KL floor of λ = 0.5 nats per latent dimension (Kingma et al. 2016)"),
            Run("ar-vae-local", "ar-vae", "10", {"extra": {"decoder": "local", "window": 28}},
                about="the weakened decoder: each pixel sees z and only the 28 pixels before it (no MADE layer)"),
            Run("made-alone", "ar-vae", "10", {"extra": {**made, "use_z": False}},
                about="the MADE decoder alone: ar-vae with the wire from z cut (the decoder gets z = 0), one seed"),
            Run("factorised-vae", "ar-vae", "10", {"kind": "vae", "extra": {}},
                about="the same encoder and z-network with a factorised Bernoulli decoder (784-400-20-400-784), "
                      "10's protocol")]


def _burda_runs() -> list[Run]:
    """Notebook 12's runs: Burda et al.'s two models under our short protocol, continued, and under theirs."""
    def extra(layers: dict[str, int], k: int) -> dict[str, Any]:  # the ELBO with k = 1, else the IWAE bound
        return {"extra": {**layers, "objective": "elbo" if k == 1 else "iwae", "k": k}}

    runs = []
    burda = {"1l": {"layers": 1}, "2l": {"layers": 2}}
    for depth, layers in burda.items():
        for objective, k in (("vae", 1), ("iwae", 5)):
            name = f"burda-{depth}-{objective}"
            if name != "burda-1l-vae":
                runs.append(Run(name, "burda-1l-vae", "12", {"latent_dim": 50, **extra(layers, k)},
                                about=f"Burda et al.'s {layers['layers']}-stochastic-layer model, trained with "
                                      + ("the ELBO" if k == 1 else f"the IWAE bound, k = {k}")))
            runs.append(Run(f"{name}-{BURDA_LONG_EPOCHS}-epochs", "burda-1l-vae", "12", extra(layers, k),
                            {"epochs": BURDA_LONG_EPOCHS}, test_epochs=2, continues=name,
                            about=f"{name}, trained on to {BURDA_LONG_EPOCHS} epochs (continues its 10-epoch "
                                  "checkpoint)"))
    # Burda et al.'s own protocol, their Table 1 (hours on a GPU); scored with k = 5000 on all test images
    paper = dict(epochs=3280, batch_size=20, val_size=0, scheduler="burda", adam_eps=1e-4, iwae_k=5000,
                 iwae_n=10_000)
    for depth, layers in burda.items():
        for objective, k in (("vae", 1), ("iwae-50", 50)):
            runs.append(Run(f"burda-{depth}-{objective}-paper", "burda-1l-vae", "12", extra(layers, k), paper,
                            long=True, about=f"Burda et al.'s {layers['layers']}-stochastic-layer model under their "
                            f"protocol: {'the ELBO' if k == 1 else 'the IWAE bound, k = 50'}, 3,280 passes over 60,000 "
                            "images, batch 20, Adam ε = 1e-4, lr 1e-3 · 10^(-i/7) for 3^i passes"))
    return runs


def _control_runs() -> list[Run]:
    """12's diagnosis of the two-layer VAE: controls that each change one thing (ELBO, Burda's protocol)."""
    narrow, two = {"layers": 1, "widths": [[100, 100]]}, {"layers": 2}
    controls = {
        "burda-2l-vae-no-z2": ({**narrow, "prior": "learned"}, "the two-layer model with z2 removed: one layer of "
                               "100 (784-100-100-100) under a learned diagonal Gaussian prior"),
        "burda-1l-vae-narrow": (narrow, "one layer with the two-layer model's widths, 784-100-100-100, prior N(0, I)"),
        "burda-2l-vae-clamped": ({**two, "logvar_clamp": [-6.0, 2.0]}, "the two-layer VAE with every "
                                 "log-variance clamped to [-6, 2]"),
        "burda-2l-vae-warmup": ({**two, "warmup_steps": 2500}, "the two-layer VAE with a KL warm-up: "
                                "β from 0 to 1 over the first 5 epochs"),
        "burda-2l-vae-relu": ({**two, "activation": "relu"}, "the two-layer VAE with ReLU hidden units instead "
                              "of tanh"),
        "burda-1l-vae-narrow-relu": ({**narrow, "activation": "relu"}, "burda-1l-vae-narrow with ReLU hidden units"),
    }
    runs = []
    for name, (layers, about) in controls.items():
        top = layers.get("widths", [[50, 50]])[-1][1] if layers["layers"] == 1 else 50
        model = {"latent_dim": top, "extra": {**layers, "objective": "elbo", "k": 1}}
        runs.append(Run(name, "burda-1l-vae", "12", model, about=about))
    return runs


def _runs() -> list[Run]:
    """Every preset as a run of its own name, then the sweeps' members."""
    first = {"pytorch-example": "06", "bernoulli-vae": "03", "gaussian-vae": "03", "fnn-bce": "04",
             "fnn-mse": "04", "activity-z2": "04", "latent2-bn-dropout": "04", "cnn-bce": "05", "cnn-mse": "05",
             "vae-std-z20": "08", "vae-std-z20-res": "08", "vae-std-z40": "08", "vae-conv": "08", "beta-vae-4": "08",
             "beta-vae-2": "08", "beta-vae-0.5": "08", "wae": "09", "gm-vae": "09", "vq-vae": "09",
             "ar-vae": "10", "cvae": "11", "m2": "11", "m1m2": "11", "burda-1l-vae": "12"}
    test_epochs = {"bernoulli-vae": 3, "gaussian-vae": 3, "activity-z2": 2, "latent2-bn-dropout": 3}
    runs = [Run(name, name, first[name], test_epochs=test_epochs.get(name, 1)) for name in PRESETS]
    runs.append(Run("pytorch-example-2-epochs", "pytorch-example", "02", train_changes={"epochs": 2},
                    about="pytorch/examples' VAE (784-400-20, grey BCE, batch 128, all 60k images) for 2 epochs"))
    runs.append(Run("fashion-example", "pytorch-example", "07", train_changes={"dataset": "fashion-mnist"},
                    about="pytorch/examples' VAE (784-400-20, grey BCE, batch 128, 10 epochs) trained on all 60,000 "
                          "Fashion-MNIST training images: the reverse anomaly test of notebook 07"))
    gaussian = "784-400-400-40, Gaussian likelihood with {}, grey digits"
    runs += [Run(f"gaussian-sigma-{s}", "gaussian-vae", "03", {"sigma": "fixed", "sigma_value": s}, test_epochs=3,
                 about=gaussian.format(f"a fixed σ = {s}")) for s in (0.03, 0.1, 0.3, 1.0)]
    runs.append(Run("gaussian-per-pixel", "gaussian-vae", "03", {"sigma": "per-pixel", "sigma_value": 0.1},
                    test_epochs=3, about=gaussian.format("a learned σ per pixel (from 0.1)")))
    runs.append(Run("logistic-vae", "gaussian-vae", "03",
                    {"likelihood": "logistic", "sigma": "per-pixel", "sigma_value": 0.05}, test_epochs=3,
                    about="784-400-400-40, a discretized logistic made for 8-bit images (an unconstrained "
                          "location, a learned scale per pixel from 0.05), grey digits"))
    runs.append(Run("fnn-ae", "fnn-bce", "04", {"kind": "wae", "extra": {"mmd_lambda": 0.0}},
                    about="a plain autoencoder beside fnn-bce: the same networks (784-400-20) and grey BCE, a "
                          "deterministic encoder, no KL and no noise (the WAE objective at λ = 0)"))
    runs += [Run(f"beta-vae-{b:g}", "vae-std-z20", "08", {"beta": b}, about=f"pytorch/examples VAE, z = 20, β = {b:g}")
             for b in (0.25, 8.0)]
    runs += [Run(f"vae-std-z{z}", "vae-std-z20", "08", {"latent_dim": z}, about=f"pytorch/examples VAE, z = {z}")
             for z in (2, 5, 10)]
    runs += [Run(f"wae-lambda-{lam:g}", "wae", "09", {"extra": {"mmd_lambda": lam}},
                 about=f"Wasserstein autoencoder (MMD, inverse multiquadratic kernel, λ = {lam:g}), 784-400-20, "
                       "deterministic encoder") for lam in (10.0, 1000.0)]
    runs.append(Run("cvae-z2", "cvae", "11", {"latent_dim": 2},
                    about="the conditional VAE with a 2-d z (784+10-400-2, 2+10-400-784), cvae's protocol"))
    for name in ("m2", "m1m2"):  # 11's replication: the same model on other labelled subsets (label_seed)
        base = PRESETS[name].model_settings["extra"]
        runs += [Run(f"{name}-labels-{s}", name, "11", {"extra": {**base, "label_seed": s}},
                     about=f"{name} with another 100 labelled images (10 per class, label seed {s})")
                 for s in LABEL_SEEDS[1:]]
    runs += _ar_vae_runs() + _burda_runs() + _control_runs()
    for name in _REPLICATED:  # the same run trained from other seeds (initialisation, data order, binarization)
        base = next(r for r in runs if r.name == name)
        notebook = SEED_NOTEBOOK.get(name, base.notebook)  # the notebook that asks for the replicas
        runs += [Run(f"{name}-seed-{s}", base.preset, notebook, base.model_changes, {**base.train_changes, "seed": s},
                     base.test_epochs, base.test_subset, f"{base.description}; training seed {s}")
                 for s in seeds_of(name)[1:]]
    return runs


#: training seeds of the replicated runs: seed 0 is the run itself, the others its replicas
REPLICA_SEEDS = (0, 1, 2)
#: 11's labelled subsets: label seed 0 is the run itself (m2, m1m2), the others `m2-labels-1`, ...
LABEL_SEEDS = (0, 1, 2)
#: runs whose verdicts three seeds left at the edge of their interval get five (05's 2 x 2 table)
MORE_SEEDS = {name: (0, 1, 2, 3, 4) for name in ("fnn-bce", "fnn-mse", "cnn-bce", "cnn-mse")}
#: replicated runs whose other seeds a later notebook trains (04 uses one seed of each, 05 all five)
SEED_NOTEBOOK = {"fnn-bce": "05", "fnn-mse": "05"}


def seeds_of(name: str) -> tuple[int, ...]:
    """The training seeds of a replicated run (REPLICA_SEEDS unless MORE_SEEDS says otherwise)."""
    return MORE_SEEDS.get(name, REPLICA_SEEDS)


#: the runs whose verdicts the notebooks check over several training seeds (03, 05, 08, 09, 10, 11, 12)
_REPLICATED = ("bernoulli-vae", "gaussian-vae", "gaussian-sigma-0.03", "gaussian-sigma-0.1", "gaussian-sigma-0.3",
               "gaussian-sigma-1.0", "gaussian-per-pixel", "logistic-vae",
               "fnn-bce", "fnn-mse", "cnn-bce", "cnn-mse",
               "vae-std-z20", "vae-std-z20-res", "vae-std-z40", "vae-conv",
               "beta-vae-0.25", "beta-vae-0.5", "beta-vae-2", "beta-vae-4", "beta-vae-8",
               "vae-std-z2", "vae-std-z5", "vae-std-z10",
               "wae-lambda-10", "wae", "wae-lambda-1000", "gm-vae",
               "factorised-vae", "ar-vae", "ar-vae-warmup", "ar-vae-free-bits", "ar-vae-local",
               "cvae", "cvae-z2", *(f"{m}{lab}" for m in ("m2", "m1m2") for lab in ("", "-labels-1", "-labels-2")),
               "burda-1l-vae", "burda-1l-iwae", "burda-2l-vae", "burda-2l-iwae",
               "burda-1l-vae-narrow", "burda-2l-vae-relu", "burda-1l-vae-narrow-relu")

RUNS: dict[str, Run] = {r.name: r for r in _runs()}

#: runs that differ from each other in one setting, in the order the notebooks show them
SWEEPS: dict[str, tuple[str, ...]] = {
    "sigma": ("gaussian-sigma-0.03", "gaussian-sigma-0.1", "gaussian-sigma-0.3", "gaussian-sigma-1.0"),
    "beta": ("beta-vae-0.25", "beta-vae-0.5", "vae-std-z20", "beta-vae-2", "beta-vae-4", "beta-vae-8"),
    "latent_dim": ("vae-std-z2", "vae-std-z5", "vae-std-z10", "vae-std-z20", "vae-std-z40"),
    "mmd_lambda": ("wae-lambda-10", "wae", "wae-lambda-1000"),
}

#: each replicated run and its replicas, seed 0 first: ("cnn-bce", "cnn-bce-seed-1", "cnn-bce-seed-2", ...)
REPLICAS: dict[str, tuple[str, ...]] = {
    name: (name, *(f"{name}-seed-{s}" for s in seeds_of(name)[1:])) for name in _REPLICATED}


def get_preset(name: str) -> Preset:
    """The preset of that name; KeyError listing the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


def get_run(name: str) -> Run:
    """The run of that name; KeyError listing the known names otherwise."""
    try:
        return RUNS[name]
    except KeyError:
        raise KeyError(f"unknown run {name!r}; known runs: {', '.join(RUNS)}") from None
