"""Several models in one pass: runs that share an architecture train together.

    results = train_group([(model_cfg, train_cfg, folder), ...])   # one TrainResult per member

A group's members differ only in their training seed, their β and their fixed σ (seed replicas,
the β sweep, the σ sweep): the same parameter shapes, the same batch size, epochs and data. Their
parameters are stacked (`torch.func.stack_module_state`) and one `torch.func.vmap`-ed forward and
one backward serve all of them; one fused Adam steps the stacked parameters, which is each
member's own Adam, since Adam works elementwise.

Each member gets what `vaelib.train.train` would have given it alone: its own data order and
binarization (its own generator), its own ε draws (the global RNG state each solo run would have,
kept per member and swapped in around each draw), its own validation, checkpoint, history,
model.pt and metrics.json in its own folder, written by the trainer's own functions; a member's
checkpoint resumes as a solo run and the other way round. The arithmetic differs from a solo run
only in how the batched products are blocked, so weights agree to float rounding, not bit for bit
(tests/test_group.py states the tolerance). `group_key` says which runs can share a group; the
cache uses groups where they pay (`use_groups`: on a GPU; measured slower on a 2-core CPU).
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from vaelib import data as vdata
from vaelib.losses import kl_std_normal
from vaelib.models import ModelConfig
from vaelib.runtime import CHECKPOINT, pick_device
from vaelib.train import (
    CHECK_EVERY, NonFiniteLossError, TrainConfig, TrainResult, _early_stop_due, _end_epoch, _finish, _open_folder,
    _ordered, _start, _validation_row,
)

__all__ = ["GROUP_VARIES", "group_key", "use_groups", "train_group"]

#: what may differ between the members of a group (model settings, train settings)
GROUP_VARIES = ({"beta", "sigma_value"}, {"seed"})


def group_key(model_config: ModelConfig, train_config: TrainConfig) -> str | None:
    """Runs with the same key can train in one group; None: this run trains alone (another model
    family, batch norm or dropout, a schedule, early stopping or gradient clipping)."""
    m, t = model_config, train_config
    if m.kind != "vae" or m.batch_norm or m.dropout or t.scheduler or t.early_stopping or t.grad_clip:
        return None
    md = {k: v for k, v in m.to_dict().items() if k not in GROUP_VARIES[0]}
    td = {k: v for k, v in t.to_dict().items() if k not in GROUP_VARIES[1]}
    return json.dumps([md, td], sort_keys=True)


def use_groups(device: torch.device) -> bool:
    """Whether the cache trains groups: VAELIB_GROUP=1 or 0 says so; else on a GPU only (on a
    2-core CPU a vmap-ed step of three models measured 15-30 % slower than three solo steps)."""
    env = os.environ.get("VAELIB_GROUP")
    return env == "1" if env in ("0", "1") else device.type == "cuda"


class _Step(nn.Module):
    """One member's training loss with ε given: what VAE.forward computes, ε drawn outside."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor, eps: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        m = self.vae
        mu, logvar = m.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps  # losses.reparameterize, with its ε
        log_px = m.log_likelihood(x, m.decode(z))
        kl = kl_std_normal(mu, logvar)
        loss = -(log_px - beta * kl)  # losses.elbo's training loss
        return torch.stack([loss.mean(), loss.sum(), log_px.sum(), kl.sum()])


class _RNG:
    """The global RNG state of each member, swapped in around what would have drawn from it."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.states: list[Any] = []

    def get(self) -> Any:
        return (torch.get_rng_state(), torch.cuda.get_rng_state() if self.cuda else None)

    def set(self, state: Any) -> None:
        torch.set_rng_state(state[0])
        if self.cuda:
            torch.cuda.set_rng_state(state[1])


def train_group(members: list[tuple[ModelConfig, TrainConfig, str | Path | None]], *,
                device: str | torch.device | None = None, progress: bool = False,
                final_metrics: bool = True) -> list[TrainResult]:
    """Train every (ModelConfig, TrainConfig, out_dir) member in one pass; their group_key must
    agree. Members resume from their checkpoints when all of them stopped at the same epoch; else
    (or for a single member) each trains alone through vaelib.train.train."""
    from vaelib.train import train  # noqa: PLC0415

    keys = {group_key(m, t) for m, t, _ in members}
    if None in keys or len(keys) != 1:
        raise ValueError("these runs cannot train in one group (vaelib.group.group_key differs or is None)")
    dev = pick_device(device)
    mcfg0, tcfg0, _ = members[0]
    splits = vdata.load_mnist(dataset=tcfg0.dataset, val_size=tcfg0.val_size, seed=0, subset=tcfg0.subset)
    train_x = splits.train.images.to(dev)
    val_x = vdata.eval_inputs(splits.val.images.to(dev), vdata.eval_targets_for(tcfg0.targets))
    runs, rng, outs = [], _RNG(dev), []
    for mcfg, tcfg, out in members:
        run = _start(mcfg, tcfg, dev)
        out = Path(out) if out is not None else None
        if out is not None:
            _open_folder(out, run, mcfg, tcfg, dev, resume=True)
        rng.states.append(rng.get())
        runs.append(run)
        outs.append(out)
    if len(members) == 1 or len({r.epoch for r in runs}) != 1:  # nothing to share, or out of step
        return [train(m, t, o, device=dev, progress=progress, final_metrics=final_metrics) for m, t, o in members]

    group = _Group(runs, members, dev)
    batches = [vdata.BatchIterator(train_x, tcfg0.batch_size, shuffle=True, targets=tcfg0.targets, generator=r.gen)
               for r in runs]
    while runs[0].epoch < tcfg0.epochs and not _early_stop_due(runs[0], tcfg0):
        t0 = time.perf_counter()
        sums = group.epoch(batches, rng, outs)
        seconds = (time.perf_counter() - t0) / len(runs)  # each member's share of the group's epoch
        group.unstack()
        for i, (run, (mcfg, tcfg, out)) in enumerate(zip(runs, members)):
            means = (sums[i] / train_x.shape[0]).tolist()
            row = {"epoch": run.epoch + 1, "train_loss": means[0], "train_recon": -means[1], "train_kl": means[2],
                   "train_seconds": seconds}
            rng.set(rng.states[i])
            row.update(_validation_row(run.model, val_x, run.optimizer), seconds=seconds)
            _end_epoch(run, _ordered(row, run.model), tcfg, out, mcfg)
            rng.states[i] = rng.get()
    results = []
    for i, (run, (mcfg, tcfg, out)) in enumerate(zip(runs, members)):
        rng.set(rng.states[i])
        results.append(_finish(run, splits, mcfg, tcfg, out, dev, final_metrics))
    return results


class _Group:
    """The stacked parameters of the members, their one optimizer, and one epoch of steps."""

    def __init__(self, runs: list, members: list, dev: torch.device) -> None:
        self.runs, self.dev = runs, dev
        self.member_params = [list(r.model.parameters()) for r in runs]  # in stack_module_state's order
        params, self.buffers = stack_module_state([_Step(r.model) for r in runs])
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.base = copy.deepcopy(_Step(runs[0].model)).to("meta")
        self.beta = torch.tensor([m.beta for m, _, _ in members], device=dev)
        self.latent = members[0][0].latent_dim
        tcfg = members[0][1]
        self.optimizer = torch.optim.Adam(list(self.params.values()), lr=tcfg.lr, weight_decay=tcfg.weight_decay,
                                          eps=tcfg.adam_eps, **({"fused": True} if dev.type in ("cpu", "cuda") else {}))
        self._load_optimizer_state()
        self.loss = vmap(lambda p, b, x, e, beta: functional_call(self.base, (p, b), (x, e, beta)))

    def _load_optimizer_state(self) -> None:
        """The members' Adam states (a resumed run's moments and step count), stacked."""
        states = [r.optimizer.state for r in self.runs]
        for idx, stacked in enumerate(self.params.values()):
            per = [states[i].get(params[idx]) for i, params in enumerate(self.member_params)]
            if all(per):
                self.optimizer.state[stacked] = {"step": per[0]["step"].clone(),
                                                 "exp_avg": torch.stack([s["exp_avg"] for s in per]),
                                                 "exp_avg_sq": torch.stack([s["exp_avg_sq"] for s in per])}

    def epoch(self, batches: list, rng: _RNG, outs: list) -> torch.Tensor:
        """One pass: every member's batches, ε and Adam step; [N, 3] sums of loss, log p(x|z), KL."""
        n = len(self.runs)
        sums = torch.zeros(n, 3, device=self.dev)
        iters = [iter(b) for b in batches]
        steps = len(batches[0])
        bad = torch.zeros((), dtype=torch.bool, device=self.dev)
        for step in range(steps):
            x = torch.stack([next(it) for it in iters])
            eps = []
            for i in range(n):  # the draw reparameterize's randn_like makes in the member's solo run
                rng.set(rng.states[i])
                eps.append(torch.randn(x.shape[1], self.latent, device=self.dev))
                rng.states[i] = rng.get()
            out = self.loss(self.params, self.buffers, x, torch.stack(eps), self.beta)  # [N, 4]
            self.optimizer.zero_grad(set_to_none=True)
            out[:, 0].sum().backward()  # each member's mean loss: its own gradient, nothing shared
            self.optimizer.step()
            with torch.no_grad():
                bad |= ~torch.isfinite(out[:, 0]).all()
                sums += out[:, 1:].detach()
            if (step % CHECK_EVERY == CHECK_EVERY - 1 or step == steps - 1) and bool(bad):
                epoch = self.runs[0].epoch + 1
                raise NonFiniteLossError(f"non-finite training loss in a group of {n} at epoch {epoch} "
                                         f"(by step {step + 1}); the members' last good checkpoints are kept: "
                                         + ", ".join(str(o / CHECKPOINT) for o in outs if o is not None))
        return sums

    @torch.no_grad()
    def unstack(self) -> None:
        """Copy each member's slice of the stacked weights and Adam state into its own model and
        optimizer (what validation, the checkpoint and model.pt read)."""
        for i, (run, mine) in enumerate(zip(self.runs, self.member_params)):
            for idx, stacked in enumerate(self.params.values()):
                mine[idx].copy_(stacked[i])
                st = self.optimizer.state.get(stacked)
                if st:
                    run.optimizer.state[mine[idx]] = {"step": st["step"].clone(), "exp_avg": st["exp_avg"][i].clone(),
                                                      "exp_avg_sq": st["exp_avg_sq"][i].clone()}

