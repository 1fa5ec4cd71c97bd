"""Burda, Grosse & Salakhutdinov (2016)'s protocol on a GPU: train the four `long` runs of notebook 12
and write the figures its section 5 loads (benchmarks/results/burda_gpu.json).

    python benchmarks/burda_gpu.py --device cuda                # the full protocol (hours; resumable)
    python benchmarks/burda_gpu.py --estimate                   # each run's training rate now, and its projected time
    python benchmarks/burda_gpu.py --test --out /tmp/burda      # test-mode configs on a CPU: checks the script

The runs (vaelib.runs: burda-{1l,2l}-{vae,iwae-50}-paper) are their Table 1's: 3,280 passes over all
60,000 training images, batch 20, Adam (ε = 1e-4) with lr 1e-3 · 10^(-i/7) for 3^i passes, the VAE
with k = 1 and the IWAE with k = 50; each is trained through vaelib.cache.load_or_train, so a killed
run resumes from its last epoch's checkpoint the next time (`--budget` stops starting new runs).
That is about 10 million Adam steps per run: hours even on an H200, where a step of these small
networks is bound by kernel launches, not arithmetic; more than one device-tool session holds.
Scored as the paper scores: -L_k with k = 5000 on all 10,000 test images (each run's `iwae_k` and
`iwae_n`), here with the standard error over images and the active units per layer. The JSON is written only when all four runs have finished, never in test mode to
benchmarks/results/ (a test-mode table must not stand in for the paper's protocol).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: the runs, and the figure of Burda et al.'s Table 1 each is compared with (test NLL, nats)
PAPER = {"burda-1l-vae-paper": ("1 layer, VAE (k = 1)", 86.76), "burda-1l-iwae-50-paper": ("1 layer, IWAE k = 50", 84.78),
         "burda-2l-vae-paper": ("2 layers, VAE (k = 1)", 85.33), "burda-2l-iwae-50-paper": ("2 layers, IWAE k = 50", 82.90)}
RESULTS = REPO / "benchmarks" / "results"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default: VAELIB_CACHE or checkpoints/)")
    ap.add_argument("--test", action="store_true", help="the test-mode configs (one short epoch each)")
    ap.add_argument("--budget", type=float, default=None, help="start no run after this many seconds")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder of burda_gpu.json")
    ap.add_argument("--estimate", type=int, nargs="?", const=200, default=None, metavar="STEPS",
                    help="only time STEPS training steps of each run (default 200) and project the protocol's time")
    args = ap.parse_args(argv)
    if args.test and args.out.resolve() == RESULTS.resolve():
        ap.error("--test writes its table elsewhere (--out): benchmarks/results/burda_gpu.json is the full protocol's")
    if args.cache is not None:
        os.environ["VAELIB_CACHE"] = str(args.cache)  # before vaelib.cache reads it

    import torch  # noqa: PLC0415

    from vaelib import data as vdata  # noqa: PLC0415
    from vaelib.cache import load_or_train  # noqa: PLC0415
    from vaelib.eval.stats import mean_se  # noqa: PLC0415
    from vaelib.metrics import per_image_nll  # noqa: PLC0415
    from vaelib.models.hvae import active_units_per_layer  # noqa: PLC0415
    from vaelib.runs import get_run  # noqa: PLC0415
    from vaelib.runtime import pick_device  # noqa: PLC0415

    device = pick_device(args.device)
    if args.estimate is not None:
        return _estimate(args.estimate, device)
    t_start, done, seconds = time.perf_counter(), {}, {}
    for name in PAPER:
        assert get_run(name).long, name
        if args.budget is not None and time.perf_counter() - t_start > args.budget:
            print(f"{name}: not started (budget); run again to go on", flush=True)
            continue
        t0 = time.perf_counter()
        done[name] = load_or_train(name, test=args.test, device=device, progress=False)
        seconds[name] = time.perf_counter() - t0
        print(f"{name:26} {seconds[name]:8.1f} s  {'trained' if done[name].trained_now else 'from the cache'}", flush=True)
    if len(done) < len(PAPER):
        print(f"{len(done)} of {len(PAPER)} runs finished: no table written")
        return 0

    rows = []
    for name, run in done.items():
        tcfg = run.train_config
        x = vdata.eval_inputs(vdata.load_mnist(subset=tcfg.subset).test.images, "fixed")[: tcfg.iwae_n].to(device)
        nll, se = mean_se(per_image_nll(run.model, x, tcfg.iwae_k, batch_size=max(1, 100_000 // tcfg.iwae_k)))
        label, paper = PAPER[name]
        rows.append({"model": label, "NLL": round(nll, 2), "± SE": round(se, 2), "k": tcfg.iwae_k, "test images": x.shape[0],
                     "active units": "/".join(map(str, active_units_per_layer(run.model, x))),
                     "passes": int(run.metrics["epochs_trained"]), "Burda et al.": paper,
                     "train min": round(float(run.history["seconds"].sum()) / 60, 1)})
    gpu = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    provenance = (f"benchmarks/burda_gpu.py{' --test' if args.test else ''} on {gpu}, commit {_commit()}, "
                  f"{time.strftime('%Y-%m-%d')}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "burda_gpu.json").write_text(json.dumps({"provenance": provenance, "rows": rows}, indent=2) + "\n")
    for row in rows:
        print(row)
    print(f"wrote {args.out / 'burda_gpu.json'} ({provenance})")
    return 0


def _estimate(steps: int, device) -> int:
    """Time `steps` Adam steps of each run (benchmarks.perf.training_rate) and project its 3,280 passes."""
    from benchmarks.perf import epoch_images, training_rate  # noqa: PLC0415
    from vaelib.runs import get_run  # noqa: PLC0415

    total = 0.0
    for name in PAPER:
        mcfg, tcfg = get_run(name).configs()
        rate = training_rate(mcfg, tcfg, steps=steps, device=device)
        hours = tcfg.epochs * epoch_images(tcfg) / rate / 3600
        total += hours
        print(f"{name:26} {rate:9.0f} images/s  {1e3 * tcfg.batch_size / rate:6.2f} ms/step  "
              f"{tcfg.epochs} passes: {hours:6.1f} h on {device}", flush=True)
    print(f"the four runs, one after another: {total:.1f} h on {device} (training only, at today's rate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
