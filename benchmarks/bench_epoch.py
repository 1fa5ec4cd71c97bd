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

Each side runs `--epochs` epochs after one warm-up epoch; the best epoch time is reported. Prints
the machine, both times and the ratio, and writes them as JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vaelib import datafiles
from vaelib.runs import get_run
from vaelib.runtime import pick_device
from vaelib.train import train

RESULTS = Path(__file__).resolve().parent / "results"


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


def bench_reference(device: torch.device, epochs: int) -> list[float]:
    from torchvision import datasets, transforms

    root = datafiles.DATA_ROOT
    datafiles.ensure_mnist(root)  # decompressed files in place: torchvision reads them offline
    ds = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True,
                                         **({"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}))
    torch.manual_seed(0)
    model = ExamplesVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return [reference_epoch(loader, model, optimizer, device) for _ in range(epochs + 1)][1:]


def bench_vaelib(device: torch.device, epochs: int) -> list[float]:
    mcfg, tcfg = get_run("pytorch-example").configs()
    tcfg = replace(tcfg, epochs=epochs + 1, val_size=0)
    r = train(mcfg, tcfg, None, device=device, progress=False, final_metrics=False)
    return r.history["train_seconds"].tolist()[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", action="append", help="cpu, cuda (repeatable; default: cpu, plus cuda if present)")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per side, after one warm-up")
    args = ap.parse_args()
    devices = args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    RESULTS.mkdir(exist_ok=True)
    for name in devices:
        device = pick_device(name)
        machine = (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                        f"{torch.get_num_threads()} torch threads")
        print(f"== {device.type}: {machine}; torch {torch.__version__}")
        ref = bench_reference(device, args.epochs)
        lib = bench_vaelib(device, args.epochs)
        ratio = min(ref) / min(lib)
        print(f"reference (torchvision MNIST + ToTensor + DataLoader): {min(ref):7.2f} s/epoch  (all: "
              + ", ".join(f"{t:.2f}" for t in ref) + ")")
        print(f"vaelib    (device tensors, index slicing)            : {min(lib):7.2f} s/epoch  (all: "
              + ", ".join(f"{t:.2f}" for t in lib) + ")")
        print(f"speed-up: {ratio:.2f}x  (goal: >= 4x on a 2-core CPU)")
        out = {"device": device.type, "machine": machine, "torch": torch.__version__,
               "reference_s": ref, "vaelib_s": lib, "speedup": ratio, "images_per_epoch": 60_000}
        (RESULTS / f"bench_epoch_{device.type}.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
