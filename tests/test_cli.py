"""The command line: a short train then evaluate, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vaelib.cli import main


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vaelib", *args], capture_output=True, text=True, cwd=cwd)


def test_presets_lists_every_preset(capsys):
    from vaelib.presets import PRESETS

    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out


def test_train_then_evaluate(tmp_path):
    out = tmp_path / "run"
    r = _run("train", "--preset", "pytorch-example", "--epochs", "1", "--subset", "500", "--no-progress",
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    for f in ("config.json", "checkpoint.pt", "model.pt", "history.csv", "metrics.json",
              "samples.png", "reconstructions.png"):
        assert (out / f).exists(), f
    assert "epoch   1/1" in r.stdout
    trained = json.loads((out / "metrics.json").read_text())
    r = _run("evaluate", str(out), "--iwae-k", "20", "--iwae-n", "100", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    ev = json.loads((out / "metrics_full.json").read_text())
    assert ev["iwae_k"] == 20 and ev["iwae_n"] == 100
    # the same checkpoint gives the same deterministic metrics
    assert ev["recon_mse"] == pytest.approx(trained["recon_mse"], rel=1e-6)
    assert ev["active_units"] == trained["active_units"]


@pytest.mark.parametrize("args, needle", [
    (["train", "--preset", "nope", "--out", "x"], "unknown preset"),
    (["train", "--preset", "pytorch-example", "--epochs", "-3", "--out", "x"], "--epochs"),
    (["train", "--preset", "pytorch-example", "--epochs", "two", "--out", "x"], "--epochs"),
    (["evaluate", "/definitely/not/here"], "no run folder"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_bad_arguments_give_one_line_and_status_2(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vaelib: error:") and needle in err
    assert "Traceback" not in err


def test_evaluate_a_folder_without_a_model(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "train it first" in capsys.readouterr().err


def test_bad_arguments_exit_2_as_a_process():
    r = _run("train", "--preset", "nope", "--out", "x")
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
