"""M1 + M2 (Kingma, Rezende, Mohamed & Welling 2014, their best model with few labels; notebook 11).

M1 is a plain VAE of the images, q(z1 | x) and p(x | z1); M2 (vaelib.models.semisup.M2) is then
trained on its codes z1 instead of on the pixels, with a diagonal Gaussian p(z1 | y, z2):

    M1:  log p(x) >= E_q(z1|x)[log p(x | z1)] - KL(q(z1 | x) || p(z1))
    M2:  the labelled bound L(z1, y) and the unlabelled U(z1) of semisup.M2, with z1 for x.

The paper trains M1 first, then M2. Here both train in one run (`kind="m1m2"`): each step hands
M2 *detached* draws z1 ~ q(z1 | x), so M1 learns exactly what it would alone; the loss is M1's
-ELBO + M2's J (semisup), per image. The logged `elbo` is M1's (a bound on log p(x)); M2's bound
on log p(z1) is the `m2_bound` term. `classify(x)` is argmax q(y | μ1(x)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelib.losses import ELBOTerms, elbo, kl_std_normal, reparameterize
from vaelib.models.semisup import M2
from vaelib.models.vae import VAE, ModelConfig

__all__ = ["M1M2", "M1M2Terms"]


@dataclass
class M1M2Terms(ELBOTerms):
    """M1's ELBO terms, M2's bound on log p(z1), the entropy of q(y | z1) and each image's share
    of the step's labelled term (0 outside training); loss = M1's -ELBO + M2's loss."""

    m2_bound: torch.Tensor
    entropy: torch.Tensor
    labelled_loss: torch.Tensor


class M1M2(VAE):
    """A VAE of the images (M1, the config's networks) with an M2 on its detached codes."""

    SETTINGS = {"labelled": 100, "label_seed": 0, "alpha": 0.1, "m2_hidden": 500, "m2_latent": 50}
    METRICS = ("elbo",)
    TERMS = ("kl", "m2_bound", "entropy", "labelled_loss")
    TERM_LABELS = {"kl": "KL", "m2_bound": "M2 bound", "entropy": "H(q(y|z1))", "labelled_loss": "labelled"}
    USES_BETA = False

    def _build_networks(self, c: ModelConfig, variance: bool = True) -> None:
        super()._build_networks(c, variance)  # M1: the encoder and decoder of the config
        s, h = self.settings, int(self.settings["m2_hidden"])
        self.m2 = M2(ModelConfig(kind="m2", hidden=(h,), decoder_hidden=(h,), latent_dim=int(s["m2_latent"]),
                                 extra={"labelled": s["labelled"], "label_seed": s["label_seed"], "alpha": s["alpha"],
                                        "features": c.latent_dim}))

    def attach_training_data(self, train: "object") -> None:
        """M2 keeps the labelled images (semisup.M2.attach_training_data): M1 encodes them each step."""
        self.m2.attach_training_data(train)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """z1 ~ q(z1 | x), detached: what M2 reads, [B, D1]."""
        with torch.no_grad():
            return reparameterize(*self.encode(x))

    def forward(self, x: torch.Tensor, beta: float | None = None) -> M1M2Terms:
        mu, logvar = self.encode(x)
        m1 = elbo(self.log_likelihood(x, self.decode(reparameterize(mu, logvar))), kl_std_normal(mu, logvar))
        m2 = self.m2.terms(reparameterize(mu, logvar).detach())
        if self.training and torch.is_grad_enabled():
            self.m2.add_labelled(m2, self.m2.labelled_loss(self.codes(torch.bernoulli(self.m2.labelled_x))))
        return M1M2Terms(reconstruction=m1.reconstruction, kl=m1.kl, elbo=m1.elbo, loss=m1.loss + m2.loss,
                         beta=1.0, m2_bound=m2.elbo, entropy=m2.entropy, labelled_loss=m2.labelled_loss)

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """argmax_y q(y | μ1(x)), [B]."""
        return self.m2.classify(self.encode(x)[0])
