"""One training epoch of the pytorch/examples VAE: vaelib against the way pytorch/examples feeds data.

    make bench                      # CPU (and CUDA too when one is present)
    python benchmarks/bench_epoch.py --device cuda --epochs 3

Both sides train the same model (784-400-20, Bernoulli decoder on grey pixels, the
pytorch-example preset) with the same optimizer (Adam, lr 1e-3), batch 128, shuffled, over the
same 60,000 training images, in this one process:

- reference: torchvision.datasets.MNIST + transforms.ToTensor + DataLoader(batch_size=128,
  shuffle=True), as pytorch/examples vae/main.py does (num_workers=0: its default on CPU), and its
  loss: sigmoid outputs + F.binary_cross_entropy(reduction="sum") + the closed-form KL;
- vaelib: `vaelib.train.train` with val_size=0 (so it also trains on all 60,000 images) and no
  end-of-training metrics; the time is the training part of the epoch (`train_seconds`).

Each side runs `--epochs` epochs after one warm-up epoch; the best epoch time is reported.

Then the fraction of the machine's fp32 matmul throughput (benchmarks.perf.matmul_limit, measured in
this process) that vaelib's training reaches, for three models: the pytorch-example epoch above,
a convolutional VAE (`cnn-bce`) and the VQ-VAE with its code prior (`vq-vae`). The FLOPs are the
matmuls and convolutions of one training step, counted per image (benchmarks.perf); the conv and
VQ-VAE rates are timed on `--steps` training steps after as many warm-up steps, and their
seconds per epoch are that rate over a full training epoch. A fraction that drops is a regression.

Prints the machine, the times, the ratio and the fractions, and writes them as JSON to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tooling package `benchmarks` (benchmarks/__init__.py)

from benchmarks.perf import epoch_images, matmul_limit, run_flops_per_image, training_rate  # noqa: E402
from benchmarks.pages import BOOK, refresh  # noqa: E402
from vaelib import datafiles  # noqa: E402
from vaelib.runs import get_run  # noqa: E402
from vaelib.runtime import pick_device  # noqa: E402
from vaelib.train import train  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
PAGE = BOOK / "benchmarks.md"
BEGIN, END = "<!-- bench:begin (written by benchmarks/bench_epoch.py) -->", "<!-- bench:end -->"


def summary_markdown(out: dict) -> str:
    """The benchmark lines of book/benchmarks.md, from one device's results."""
    lines = [f"Measured on {out['machine']} (torch {out['torch']}): reference {min(out['reference_s']):.2f} s per "
             f"epoch, `vaelib` {min(out['vaelib_s']):.2f} s, **{out['speedup']:.1f}× faster**. fp32 matmul limit "
             f"{out['matmul_limit_gflops']:.0f} GFLOP/s; the share of it that training reaches:", "",
             "| run | MFLOP per image (train step) | images/s | s per epoch | matmul fraction |", "| --- | --- | --- | --- | --- |"]
    for name, m in out["models"].items():
        lines.append(f"| `{name}` | {m['mflop_per_image']:.1f} | {m['images_per_s']:.0f} | {m['s_per_epoch']:.1f} | "
                     f"{m['matmul_fraction']:.0%} |")
    return "\n".join(lines) + "\n"


class ExamplesVAE(nn.Module):
    """The model of pytorch/examples vae/main.py, layer for layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x):
        h1 = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h1), self.fc22(h1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def reference_epoch(loader, model, optimizer, device) -> float:
    model.train()
    t0 = time.perf_counter()
    for x, _ in loader:
        x = x.to(device)
        recon, mu, logvar = model(x)
        bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = bce + kld
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench_reference(device: torch.device, epochs: int, subset: int | None = None) -> list[float]:
    from torchvision import datasets, transforms

    root = datafiles.DATA_ROOT
    datafiles.ensure_mnist(root)  # decompressed files in place: torchvision reads them offline
    ds = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    if subset is not None:
        ds = torch.utils.data.Subset(ds, range(subset))
    loader = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True,
                                         **({"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}))
    torch.manual_seed(0)
    model = ExamplesVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return [reference_epoch(loader, model, optimizer, device) for _ in range(epochs + 1)][1:]


def bench_vaelib(device: torch.device, epochs: int, subset: int | None = None) -> list[float]:
    mcfg, tcfg = get_run("pytorch-example").configs()
    tcfg = replace(tcfg, epochs=epochs + 1, val_size=0, subset=subset)
    r = train(mcfg, tcfg, None, device=device, progress=False, final_metrics=False)
    return r.history["train_seconds"].tolist()[1:]


def model_fractions(device: torch.device, epoch_s: float, steps: int, limit: float) -> dict[str, dict[str, float]]:
    """images/s, seconds per full epoch and matmul fraction of pytorch-example (from the epoch
    timed above), cnn-bce and vq-vae (from `steps` timed steps)."""
    out = {}
    for name in ("pytorch-example", "cnn-bce", "vq-vae"):
        mcfg, tcfg = get_run(name).configs()
        flops, images = run_flops_per_image(mcfg, tcfg), epoch_images(tcfg)
        rate = images / epoch_s if name == "pytorch-example" else training_rate(mcfg, tcfg, steps=steps, device=device)
        out[name] = {"mflop_per_image": flops / 1e6, "images_per_s": rate, "s_per_epoch": images / rate,
                     "matmul_fraction": flops * rate / (limit * 1e9)}
        print(f"{name:16} {flops / 1e6:7.2f} MFLOP/image  {rate:8.0f} images/s  {images / rate:6.1f} s/epoch  "
              f"{out[name]['matmul_fraction']:5.1%} of the matmul limit")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", action="append", help="cpu, cuda (repeatable; default: cpu, plus cuda if present)")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per side, after one warm-up")
    ap.add_argument("--steps", type=int, default=40, help="timed training steps of the conv and VQ-VAE models")
    ap.add_argument("--book", action="store_true", help="copy the CPU figures into book/benchmarks.md between its markers")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder of the JSON (default: benchmarks/results)")
    ap.add_argument("--subset", type=int, default=None, help="images per epoch (default: all 60,000; a quick check)")
    args = ap.parse_args()
    devices = args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    args.out.mkdir(parents=True, exist_ok=True)
    for name in devices:
        device = pick_device(name)
        machine = (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                        f"{torch.get_num_threads()} torch threads")
        print(f"== {device.type}: {machine}; torch {torch.__version__}")
        ref = bench_reference(device, args.epochs, args.subset)
        lib = bench_vaelib(device, args.epochs, args.subset)
        ratio = min(ref) / min(lib)
        print(f"reference (torchvision MNIST + ToTensor + DataLoader): {min(ref):7.2f} s/epoch  (all: "
              + ", ".join(f"{t:.2f}" for t in ref) + ")")
        print(f"vaelib    (device tensors, index slicing)            : {min(lib):7.2f} s/epoch  (all: "
              + ", ".join(f"{t:.2f}" for t in lib) + ")")
        goal = ">= 20x on a GPU" if device.type == "cuda" else ">= 4x on a 2-core CPU"
        print(f"speed-up: {ratio:.2f}x  (goal: {goal})")
        limit = matmul_limit(device=device)
        print(f"fp32 matmul limit here: {limit:.0f} GFLOP/s (benchmarks.perf.matmul_limit); vaelib's training reaches:")
        fractions = model_fractions(device, min(lib) * 60_000 / (args.subset or 60_000), args.steps, limit)
        out = {"device": device.type, "machine": machine, "torch": torch.__version__,
               "reference_s": ref, "vaelib_s": lib, "speedup": ratio, "images_per_epoch": args.subset or 60_000,
               "matmul_limit_gflops": limit, "models": fractions}
        (args.out / f"bench_epoch_{device.type}.json").write_text(json.dumps(out, indent=2) + "\n")
        if (args.book and device.type == "cpu" and args.subset is None
                and refresh(PAGE, BEGIN, END, summary_markdown(out))):
            print("book/benchmarks.md: benchmark figures refreshed")


if __name__ == "__main__":
    main()
