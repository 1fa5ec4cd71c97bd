"""How fast a model trains, against how fast this machine can multiply matrices.

    limit = matmul_limit()                          # GFLOP/s of fp32 matmul here, measured now
    flops = training_flops_per_image(model, x)      # one forward + backward of the training loss
    fraction = flops * images_per_second / (limit * 1e9)

A VAE's training step is almost all matrix products (linear layers; convolutions are lowered to
them), so the matmul throughput measured in the same process bounds how many images a second any
implementation can train on this machine. `training_flops_per_image` counts those products with
`torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions, attention, forward and
backward); elementwise work (activations, the loss, Adam) is not counted, so a model dominated by
it shows a low fraction even when nothing is wasted. `make bench` and `make profile` report it.

It also splits a notebook's run time into training, evaluation and plotting (`notebook_phases`)
from structured records: the "trained" events vaelib logs (vaelib.runtime.log_event) and the
cells' outputs, never from printed text.

Tooling, not part of the student's library `vaelib`: benchmarks/bench_epoch.py,
benchmarks/profile_series.py, benchmarks/burda_gpu.py and scripts/run_notebooks.py import it as
`benchmarks.perf` after putting the repository root on sys.path.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["MATMUL_SHAPES", "matmul_gflops", "matmul_limit", "training_flops_per_image", "epoch_images",
           "run_flops_per_image", "training_rate", "two_short_epochs", "STEP_PARTS", "op_part", "step_shares", "step_breakdown",
           "PHASES", "read_events", "draws_figure", "notebook_phases"]

#: (m, k, n) products of the series' training steps: batch 128 through 784-400 layers, forward
#: and the two backward products (grad input, grad weight)
MATMUL_SHAPES: tuple[tuple[int, int, int], ...] = ((128, 784, 400), (128, 400, 784), (784, 128, 400))


def matmul_gflops(m: int, k: int, n: int, seconds: float = 0.2, device: str | torch.device = "cpu") -> float:
    """The best GFLOP/s of an fp32 [m, k] @ [k, n] product over repeated timings (2·m·k·n FLOP)."""
    device = torch.device(device)
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    out = torch.empty(m, n, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(3):  # warm-up
        torch.mm(a, b, out=out)
    sync()
    reps, best, deadline = 10, 0.0, time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=out)
        sync()
        dt = time.perf_counter() - t0
        best = max(best, 2.0 * m * k * n * reps / dt / 1e9)
        if time.perf_counter() > deadline:
            return best


def matmul_limit(shapes: Iterable[tuple[int, int, int]] = MATMUL_SHAPES, seconds: float = 0.2,
                 device: str | torch.device = "cpu") -> float:
    """This machine's fp32 matmul throughput at the series' shapes, GFLOP/s: the best over `shapes`
    (so a fraction of it is never flattering), measured now, in this process and thread setting."""
    return max(matmul_gflops(*s, seconds=seconds, device=device) for s in shapes)


def training_flops_per_image(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    """Matmul and convolution FLOPs of one training step per image: the forward pass of the mean
    training loss (`model(x).loss`, or `model(x, y)` for a conditional model) and its backward, on
    the batch x. Nothing is updated: the
    model's state (batch-norm statistics, a VQ codebook) is restored afterwards."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    was_training = model.training
    rng = torch.get_rng_state()
    model.train()
    try:
        counter = FlopCounterMode(display=False)
        with counter:
            loss = (model(x) if y is None else model(x, y)).loss.mean()
            loss.backward()
        return counter.get_total_flops() / x.shape[0]
    finally:
        model.zero_grad(set_to_none=True)
        model.load_state_dict(state)
        model.train(was_training)
        torch.set_rng_state(rng)


# ----------------------------------------------------------------------------- notebooks

PHASES = ("training", "evaluation", "plotting")
TRAINED = "trained"  #: the event vaelib.train.train (and the classifier's trainer) log once per training


def read_events(path: str | Path) -> list[dict]:
    """The "trained" records of an events file (vaelib.runtime.log_event: one JSON object a line,
    `{"event", "time", "seconds", ...}`); [] when there is no file. A line that is not a whole JSON
    object with a time (a kernel killed mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == TRAINED and isinstance(record.get("time"), (int, float)):
            events.append(record)
    return events


def draws_figure(cell: dict) -> bool:
    """Whether an executed code cell displayed a figure (an image/png output)."""
    return any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


def notebook_phases(cells: list[dict], spans: dict[int, tuple[float, float]], events: list[dict]) -> dict[str, float]:
    """Seconds per phase of one executed notebook, from structured records only.

    cells: the executed notebook's cells; spans: a code cell's index -> its (start, end) in unix
    seconds (time.time(), the clock of the events); events: the "trained" records the kernel
    logged while it ran (read_events). Each event belongs to the cell whose span holds its time
    (a training logs when it ends, inside the cell that ran it). Per cell, the seconds of its
    events are training (at most the cell's own seconds); what remains is plotting when the
    cell displayed a figure (an image/png output), evaluation otherwise (loading, scoring,
    tables). Printed text is never read: a cell that prints "epoch 1/10" but logged no event
    trained nothing here."""
    out = dict.fromkeys(PHASES, 0.0)
    for index, (start, end) in spans.items():
        seconds = max(end - start, 0.0)
        trained = sum(float(e.get("seconds", 0.0)) for e in events if start <= e["time"] <= end)
        training = min(trained, seconds)
        out["training"] += training
        out["plotting" if draws_figure(cells[index]) else "evaluation"] += seconds - training
    return out


def epoch_images(train_config) -> int:
    """Images in one training epoch of a TrainConfig (the official 60,000 less validation, or the subset)."""
    from vaelib.data import N_TRAIN_OFFICIAL  # noqa: PLC0415

    n = N_TRAIN_OFFICIAL - train_config.val_size
    return min(n, train_config.subset) if train_config.subset is not None else n


def run_flops_per_image(model_config, train_config) -> float:
    """`training_flops_per_image` of a freshly built model of this configuration, on one batch of
    real training images in its own targets (grey, or a seeded binarization)."""
    from vaelib import data as vdata  # noqa: PLC0415
    from vaelib.models import build_model  # noqa: PLC0415

    torch.manual_seed(0)
    train = vdata.load_mnist(val_size=0, subset=train_config.batch_size).train
    x = vdata.to_unit(train.images)
    if train_config.targets == "dynamic":
        x = torch.bernoulli(x)
    model = build_model(model_config)
    return training_flops_per_image(model, x, train.labels if model.LABELS else None)


def training_rate(model_config, train_config, steps: int = 40, device: str | torch.device = "cpu") -> float:
    """Training images per second of this (ModelConfig, TrainConfig), measured now: two epochs of
    `steps` batches each (vaelib.train.train on a subset, no validation, no schedule), the second
    one timed, so that the first absorbs the warm-up."""
    from vaelib.train import train  # noqa: PLC0415

    tcfg = two_short_epochs(train_config, steps)
    result = train(model_config, tcfg, None, device=device, progress=False, final_metrics=False)
    return steps * tcfg.batch_size / float(result.history["train_seconds"].iloc[-1])


def two_short_epochs(train_config, steps: int):
    """The TrainConfig of a timing: two epochs of `steps` batches (a subset), no validation, no
    schedule, no early stop; the first absorbs the warm-up."""
    from dataclasses import replace  # noqa: PLC0415

    return replace(train_config, epochs=2, val_size=0, subset=steps * train_config.batch_size,
                   early_stopping=None, scheduler=None)


#: where a training step's time goes (`step_breakdown`): the matrix products (linear layers and
#: convolutions), every other op (activations, the loss, sampling, copies, reductions), Adam's
#: update, and the time in no op at all (Python, the training loop, the autograd engine)
STEP_PARTS = ("matmul", "other ops", "optimizer", "outside ops")


def op_part(name: str) -> str:
    """Which of STEP_PARTS a profiled op (its profiler name, e.g. "aten::addmm") belongs to."""
    if name.startswith("Optimizer.") or "adam" in name.lower():
        return "optimizer"
    op = name.removeprefix("aten::")
    if op in ("mm", "addmm", "bmm", "baddbmm", "mv", "addmv") or "convolution" in op:
        return "matmul"
    return "other ops"


def step_shares(self_seconds: Iterable[tuple[str, float]], wall: float) -> dict[str, float]:
    """The share of `wall` seconds in each of STEP_PARTS, from the (op name, self time) pairs of a
    profile: each op's own time (without the ops it called) counts once; what no op covers is
    "outside ops"."""
    shares = dict.fromkeys(STEP_PARTS, 0.0)
    for name, seconds in self_seconds:
        shares[op_part(name)] += seconds / wall
    shares["outside ops"] = max(0.0, 1.0 - sum(shares.values()))
    return shares


def step_breakdown(model_config, train_config, steps: int = 40, device: str | torch.device = "cpu",
                   flops_per_image: float | None = None) -> dict[str, float]:
    """Where one training epoch of `steps` batches spends its time (`training_rate`'s second epoch,
    under torch.profiler): the shares of STEP_PARTS, and "matmul GFLOP/s", the rate of the matrix
    products alone (the run's FLOPs over their time; `flops_per_image` when the caller has counted
    them, else `run_flops_per_image`). A family's fraction of the matmul limit is
    then (matmul share) x (matmul GFLOP/s / limit): time spent elsewhere, or products too small to
    run at the limit. The profiler adds a few microseconds to every op, so a model of many small
    ops shows more time outside the products than it spends unprofiled."""
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415

    from vaelib.train import train  # noqa: PLC0415

    tcfg = two_short_epochs(train_config, steps)
    prof = profile(activities=[ProfilerActivity.CPU])
    span: list[float] = []

    def around_second_epoch(epoch: int, row: dict) -> None:  # after epoch 1: start; after epoch 2: stop
        span.append(time.perf_counter())
        (prof.start if epoch == 1 else prof.stop)()

    train(model_config, tcfg, None, device=device, progress=False, final_metrics=False, on_epoch_end=around_second_epoch)
    wall = span[1] - span[0]
    shares = step_shares(((e.key, e.self_cpu_time_total / 1e6) for e in prof.key_averages()), wall)
    matmul_s = shares["matmul"] * wall
    images = steps * tcfg.batch_size
    flops = run_flops_per_image(model_config, train_config) if flops_per_image is None else flops_per_image
    return {**shares, "matmul GFLOP/s": flops * images / matmul_s / 1e9
            if matmul_s > 0 else float("nan")}
