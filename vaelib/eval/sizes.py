"""How many images, samples and steps each evaluation of the notebooks uses, in full and in test mode.

A notebook cell names the quantity, `n_pair = session.size("paired_images")` (2000 test images
after a full run, 200 in test mode), so teaching cells carry no test-mode plumbing. Test mode
(VAE_NOTEBOOKS_TEST=1) only has to execute every cell quickly; the claims a notebook asserts are
checked on the full sizes. There each split holds its first vaelib.runs.TEST_SUBSET images, so a
larger size means "all of them".
"""

from __future__ import annotations

from dataclasses import dataclass

from vaelib.eval.likelihood import HEADLINE_K

__all__ = ["Size", "SIZES", "size"]


@dataclass(frozen=True)
class Size:
    full: int
    test: int
    what: str  # what is counted, and where it is used

    def __post_init__(self) -> None:
        if not 0 < self.test <= self.full:
            raise ValueError(f"a size needs 0 < test <= full, got {self}")


SIZES: dict[str, Size] = {
    "paired_images": Size(2000, 200, "test images behind a paired bootstrap over training seeds (03, 05, 06)"),
    "sigma_fit_images": Size(5000, 1000, "validation images behind the RMS residual (03)"),
    "path_pairs": Size(2000, 500, "random pairs of test codes whose path midpoints are decoded (04)"),
    "iwae_images": Size(200, 50, "fixed-binarized test images of the L_k-against-k curve and the gaps (06)"),
    "iwae_k_max": Size(5000, 50, "largest k of the L_k-against-k curve (06)"),
    "gap_sweep_images": Size(50, 10,
                             "fixed-binarized test images of 06's sweep over the Adam steps of the per-image q (06)"),
    "gap_steps": Size(300, 20, "Adam steps fitting one Gaussian q per image (06)"),
    "gap_samples": Size(8, 2, "reparameterised draws per step of that fit (06)"),
    "gap_eval_samples": Size(200, 10, "draws behind each image's encoder and optimal ELBO (06)"),
    "fd_images": Size(10_000, 500, "samples per model and real images behind a Fréchet distance (07, 08, 09)"),
    "shown_samples": Size(2000, 500, "samples per model kept for the figures (07)"),
    "probe_images": Size(10_000, 1000, "training images that fit the linear probe (07)"),
    "anomaly_images": Size(10_000, 1000, "test images per set in the anomaly-detection AUCs (07)"),
    "reverse_images": Size(2000, 200, "images per set in the Fashion-MNIST -> MNIST test (07)"),
    "reverse_k": Size(HEADLINE_K, 10, "importance samples of the Fashion-MNIST -> MNIST test (07)"),
    "mi_images": Size(5000, 500, "test images behind the rate decomposition I_q(x; z) + KL(q(z) || p(z)) "
                                 "and the bracket on the second term (03, 06, 08)"),
    "latent_images": Size(2000, 500, "test images and prior draws compared in code space (09)"),
    "cvae_samples": Size(1000, 20, "CVAE samples per requested class scored by the MNIST classifier (11)"),
    "baseline_epochs": Size(100, 2, "epochs of the small CNN trained on the 100 labelled images alone (11)"),
    "burda_images": Size(2000, 200, "test images behind 12's NLL table (its k is burda_k)"),
    "burda_k": Size(1000, 10, "importance samples of 12's NLL table (Burda et al. used k = 5000 on all 10,000)"),
    "nll_k": Size(100, 10, "importance samples behind the per-image NLLs of the paired comparisons (10, 12)"),
}


def size(name: str, test: bool) -> int:
    """SIZES[name] in full or in test mode (a KeyError names the sizes there are)."""
    if name not in SIZES:
        raise KeyError(f"no size {name!r} in vaelib.eval.sizes; there are: {', '.join(SIZES)}")
    return SIZES[name].test if test else SIZES[name].full
