"""Would compiling the model make the series train faster? `VAELIB_COMPILE=1` against eager, per family.

    python benchmarks/compiled_step.py                       # one run of each family the profile lists
    python benchmarks/compiled_step.py m2 wae --steps 100    # some runs of vaelib.runs

The profile (`make profile`, benchmarks.perf.step_breakdown) finds most families spending a large
share of each training step outside the matrix products: activations, the loss, copies, Python. A
compiled model (`VAELIB_COMPILE=1`: vaelib.runtime.maybe_compile, TorchInductor, which fuses the
elementwise work into generated code) is the usual remedy. This measures each run's training rate
with vaelib's own trainer (benchmarks.perf.training_rate: two epochs of `--steps` batches, the
second timed, so the compilation falls in the first), eager and compiled, and prints both and the
ratio. A compiled model changes the last bits of every result (fused kernels round differently), so
switching it on for the series means retraining it; this says where that would pay.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.perf import training_rate  # noqa: E402
from vaelib.runs import get_run  # noqa: E402
from vaelib.runtime import COMPILE_VAR  # noqa: E402

#: one run of each family the profile lists, the longest training first
FAMILIES = ("cnn-bce", "pytorch-example", "m1m2", "m2", "burda-1l-vae", "burda-2l-vae", "ar-vae", "wae")


def rates(name: str, steps: int = 40) -> tuple[float, float]:
    """(eager, compiled) training images per second of run `name` (its model, batch size and targets)."""
    model_cfg, train_cfg = get_run(name).configs()
    before = os.environ.pop(COMPILE_VAR, None)
    try:
        eager = training_rate(model_cfg, train_cfg, steps=steps)
        os.environ[COMPILE_VAR] = "1"
        return eager, training_rate(model_cfg, train_cfg, steps=steps)
    finally:
        os.environ.pop(COMPILE_VAR, None)
        if before is not None:
            os.environ[COMPILE_VAR] = before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", default=list(FAMILIES), help="runs of vaelib.runs (default: one per family)")
    ap.add_argument("--steps", type=int, default=40, help="training steps per epoch of the measurement (default 40)")
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    lines = []
    for name in args.runs:
        eager, compiled = rates(name, args.steps)
        lines.append(f"{name:16} eager {eager:7.0f} images/s   compiled {compiled:7.0f} images/s   {compiled / eager:.2f}x")
        print(lines[-1], flush=True)
    print("\n".join(["", *lines]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
