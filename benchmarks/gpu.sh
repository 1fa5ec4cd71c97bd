#!/usr/bin/env bash
# Every GPU check of the project in one command, at most 8 minutes on an H200:
#
#   bash benchmarks/gpu.sh            # on the GPU machine (the device tool runs it in the repo root)
#   bash benchmarks/gpu.sh --tiny     # the same steps on a CPU with a tiny setting: checks the script
#   bash benchmarks/gpu.sh --burda [S] # only Burda et al.'s protocol (notebook 12), S seconds (default 540)
#                                      # at a time, resumed from checkpoints/ by the next call
#
# 1. make bench on the GPU: the pytorch-example epoch, vaelib against the reference loop on the same
#    GPU (goal >= 20x), and the matmul fractions of the pytorch-example, conv and VQ-VAE epochs;
#    then the same with the training step compiled (VAELIB_COMPILE=1: torch.compile, inductor);
# 2. the series' training from an empty cache, every run of the registry in full mode
#    (benchmarks/train_all.py; goal: the whole series <= 5 minutes), stopped from starting new runs
#    when its time budget is spent;
# 3. the notebooks themselves, from that cache, when the machine has nbclient and jupytext (the
#    GPU image has PyTorch but not Jupyter: carry wheels to add them), else said and skipped.
# 4. Burda et al.'s 3,280-pass protocol (benchmarks/burda_gpu.py): hours, so by default only its
#    training rate on this GPU and the projected time; --burda trains it, and when all four runs
#    have finished it writes benchmarks/results/burda_gpu.json (notebook 12's section 5 loads it).
# Results go to $OUT (the device tool brings that folder back), else to benchmarks/results/gpu/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE"' EXIT

if [ "${1:-}" = "--burda" ]; then
    echo "== Burda et al.'s protocol, ${2:-540} s this call (resumes from checkpoints/)"
    timeout "${2:-540}" "$PY" benchmarks/burda_gpu.py --device cuda --cache checkpoints 2>&1 | grep -v "^epoch " \
        | tee "$OUT/burda.log" || echo "stopped after ${2:-540} s (timeout): the checkpoints keep every finished pass"
    cp -f benchmarks/results/burda_gpu.json "$OUT/" 2>/dev/null || echo "not finished yet: run again to go on"
    exit 0
fi
if [ "${1:-}" = "--tiny" ]; then
    DEVICE=cpu; BENCH=(--epochs 1 --subset 1280 --steps 2); TRAIN=(--test --only "pytorch-example*" --only wae)
    BUDGET=60; NOTEBOOKS=(01); COMPILE=eager  # dynamo without code generation: checks the switch quickly
else
    DEVICE=cuda; BENCH=(--epochs 2); TRAIN=(); BUDGET=240; NOTEBOOKS=(); COMPILE=1
fi
"$PY" -c "import torch; print('torch', torch.__version__, '| cuda:', torch.cuda.is_available() and torch.cuda.get_device_name(0))"

echo "== 1. bench ($DEVICE)"
"$PY" benchmarks/bench_epoch.py --device "$DEVICE" --out "$OUT" "${BENCH[@]}" 2>&1 | tee "$OUT/bench.log"
echo "== 1b. bench with the training step compiled (VAELIB_COMPILE=$COMPILE)"
mkdir -p "$OUT/compiled"
VAELIB_COMPILE=$COMPILE "$PY" benchmarks/bench_epoch.py --device "$DEVICE" --out "$OUT/compiled" "${BENCH[@]}" 2>&1 \
    | grep -v "^epoch " | tee "$OUT/bench_compiled.log"

echo "== 2. training every run from an empty cache ($DEVICE, budget ${BUDGET} s)"
"$PY" benchmarks/train_all.py --device "$DEVICE" --cache "$CACHE" --out "$OUT" --budget "$BUDGET" "${TRAIN[@]}" \
    2>&1 | grep -v "^epoch " | tee "$OUT/train_all.log"

echo "== 3. notebooks from that cache"
if "$PY" -c "import nbclient, jupytext, ipykernel" 2>/dev/null; then
    mode=(); [ "$DEVICE" = cpu ] && mode=(--test-mode)
    VAELIB_CACHE="$CACHE" "$PY" scripts/run_notebooks.py "${mode[@]}" --output-dir "$CACHE/notebooks" "${NOTEBOOKS[@]}" \
        2>&1 | tee "$OUT/notebooks.log"
else
    echo "skipped: this Python has no nbclient/jupytext/ipykernel" | tee "$OUT/notebooks.log"
fi
echo "== 4. Burda et al.'s protocol (notebook 12)"
if [ "$DEVICE" = cpu ]; then  # the whole path, in test mode: train, score, write the table (not into results/)
    "$PY" benchmarks/burda_gpu.py --test --device cpu --cache "$CACHE" --out "$OUT/burda" 2>&1 | grep -v "^epoch " \
        | tee "$OUT/burda.log"
else
    "$PY" benchmarks/burda_gpu.py --estimate --device cuda 2>&1 | tee "$OUT/burda.log"
fi
echo "results in $OUT"
