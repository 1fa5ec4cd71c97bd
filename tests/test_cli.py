"""The command line: a short train then evaluate, and one-line errors (status 2 for a bad argument,
1 for a damaged file or a full disk, 130 for Ctrl-C), never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vaelib.cli import main


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vaelib", *args], capture_output=True, text=True, cwd=cwd)


def test_presets_lists_every_preset(capsys):
    from vaelib.runs import PRESETS

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


# ----------------------------------------------------------------------------- no tracebacks, ever
# Each test runs the command line in this process (fast) and asks for ONE line on stderr.

TINY = ["--preset", "pytorch-example", "--subset", "100", "--no-progress", "--device", "cpu"]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("vaelib: error: "), err
    return err


def test_runs_lists_every_run_and_train_accepts_a_run(tmp_path, capsys):
    from vaelib.runs import RUNS

    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in RUNS) and "gaussian-sigma-0.1" in out
    assert main(["train", "--run", "gaussian-sigma-0.1", "--epochs", "0", "--subset", "200", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model"]["sigma"] == "fixed" and saved["model"]["sigma_value"] == 0.1
    assert main(["train", "--run", "gaussian-sigma-0.1", "--preset", "wae", "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize("flag, name", [("--preset", "nope"), ("--run", "gaussian-sigma-0.2")])
def test_unknown_preset_fails_before_torch_is_imported(flag, name):
    code = (f"import sys; from vaelib.cli import main; rc = main(['train', '{flag}', '{name}', '--out', 'x']); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    what = flag.lstrip("-")
    assert r.stderr.startswith(f"vaelib: error: unknown {what} '{name}'") and r.stderr.count("\n") == 1


@pytest.mark.parametrize("extra, needle", [
    (["--device", "tpu"], "unknown --device 'tpu'; expected cpu, cuda, cuda:N or mps"),
    (["--seed", str(2**70)], "--seed: must be at most 2**64 - 1"),
])
def test_bad_device_name_and_seed(extra, needle, tmp_path, capsys):
    assert main(["train", "--preset", "pytorch-example", "--out", str(tmp_path / "run"), *extra]) == 2
    assert needle in _error_line(capsys)


def test_cuda_on_a_machine_without_it(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on a machine that has CUDA
    assert main(["train", "--preset", "pytorch-example", "--out", str(tmp_path / "run"), "--device", "cuda"]) == 2
    assert "--device cuda: CUDA is not available on this machine; use --device cpu" in _error_line(capsys)


def test_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "run").write_text("not a folder")
    assert main(["train", *TINY, "--out", str(tmp_path / "run")]) == 2
    assert f"--out {tmp_path / 'run'} exists and is not a folder" in _error_line(capsys)


@pytest.mark.parametrize("exists", [False, True])
def test_out_in_a_read_only_place(exists, tmp_path, capsys, monkeypatch):
    # The tests run as root, and chmod does not stop root: the read-only file system is simulated
    # by making the folder's creation (EROFS) or the first file in it (EACCES) fail.
    import errno
    import os
    import pathlib
    import tempfile

    out = tmp_path / "ro" / "run"
    mkdir, mkstemp = pathlib.Path.mkdir, tempfile.mkstemp

    def ro_mkdir(self, *a, **kw):
        if str(self).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return mkdir(self, *a, **kw)

    def ro_mkstemp(*a, dir=None, **kw):
        if dir is not None and str(dir).startswith(str(tmp_path / "ro")):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
        return mkstemp(*a, dir=dir, **kw)

    if exists:
        out.mkdir(parents=True)
        monkeypatch.setattr(tempfile, "mkstemp", ro_mkstemp)
    else:
        monkeypatch.setattr(pathlib.Path, "mkdir", ro_mkdir)
    assert main(["train", *TINY, "--out", str(out)]) == 2
    why = "Permission denied" if exists else "Read-only file system"
    assert f"cannot write to --out {out}: {why}" in _error_line(capsys)


def _truncated_checkpoint() -> bytes:
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"model": {"w": torch.zeros(1000)}}, buf)
    return buf.getvalue()[: len(buf.getvalue()) // 2]


@pytest.mark.parametrize("content", ["empty", "random", "truncated"])
def test_unreadable_checkpoint_says_so_and_hints_at_restart(content, tmp_path, capsys):
    import os

    blob = {"empty": b"", "random": os.urandom(4096), "truncated": _truncated_checkpoint()}[content]
    (tmp_path / "checkpoint.pt").write_bytes(blob)
    assert main(["train", *TINY, "--epochs", "0", "--out", str(tmp_path)]) == 1
    line = _error_line(capsys)
    assert f"{tmp_path / 'checkpoint.pt'} is unreadable (truncated or corrupt" in line
    assert "run again with --restart to delete it and start over" in line


def test_checkpoint_of_another_configuration_names_restart(tmp_path, capsys):
    from vaelib.checkpoints import load_checkpoint

    assert main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["train", *TINY, "--epochs", "1", "--seed", "1", "--out", str(tmp_path)]) == 1
    line = _error_line(capsys)
    assert "was trained with another train config (differs in ['seed'])" in line
    assert "--restart" in line and "resume=False" not in line
    # --restart deletes the old checkpoint first (0 epochs write none) and trains the new configuration
    assert main(["train", *TINY, "--epochs", "0", "--seed", "1", "--restart", "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "checkpoint.pt").exists()
    assert load_checkpoint(tmp_path / "model.pt")["train_config"]["seed"] == 1


def test_corrupt_data_file_gives_one_line(tmp_path, capsys, monkeypatch):
    from vaelib import datafiles

    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    monkeypatch.setattr(datafiles, "DATA_ROOT", tmp_path / "data")
    assert main(["train", *TINY, "--epochs", "0", "--out", str(tmp_path / "run")]) == 1
    line = _error_line(capsys)
    assert "MNIST check failed" in line and "train-images-idx3-ubyte" in line and "fix:" in line


def test_full_disk(tmp_path, capsys, monkeypatch):
    import errno
    import os

    import torch

    def no_space(obj, f, *a, **kw):
        with open(f, "wb") as fh:
            fh.write(b"half")  # what a full disk leaves behind
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", no_space)
    assert main(["train", *TINY, "--epochs", "0", "--out", str(tmp_path)]) == 1
    line = _error_line(capsys)
    assert f"no space left on the device to write {tmp_path / 'model.pt'}; free some space" in line
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "model.pt").exists()


def test_stale_temporary_files_are_cleaned_up(tmp_path, capsys):
    import os

    # a process killed while it saves the checkpoint (torch.save writes half, then the process dies)
    code = ("import os, sys, torch; from vaelib.runtime import atomic_save\n"
            "def half(obj, f): open(f, 'wb').write(b'half a checkpoint'); os._exit(9)\n"
            "torch.save = half; atomic_save({}, sys.argv[1])")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "checkpoint.pt")], capture_output=True)
    assert r.returncode == 9 and len(list(tmp_path.glob("checkpoint.pt*.tmp"))) == 1
    (tmp_path / "metrics.json.tmp").write_text("{")  # the name older versions used
    live = tmp_path / f"history.csv.{os.getppid()}.abcd.tmp"  # a writer that is still running
    live.write_text("epoch")
    mine = tmp_path / "notes.tmp"  # not vaelib's
    mine.write_text("keep")
    assert main(["train", *TINY, "--epochs", "0", "--out", str(tmp_path)]) == 0
    assert not list(tmp_path.glob("checkpoint.pt*.tmp")) and not (tmp_path / "metrics.json.tmp").exists()
    assert live.exists() and mine.exists()


def test_every_file_of_a_run_is_written_atomically(tmp_path, capsys, monkeypatch):
    import builtins
    import os

    import torch

    replaced, opened = [], []  # names renamed into place / names opened for writing
    real_replace, real_open, real_save = os.replace, builtins.open, torch.save

    def record_replace(src, dst, *a, **kw):
        replaced.append(os.path.basename(dst))
        return real_replace(src, dst, *a, **kw)

    def record_open(file, mode="r", *a, **kw):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            opened.append(os.path.basename(file))
        return real_open(file, mode, *a, **kw)

    def record_save(obj, f, *a, **kw):  # torch.save opens a path in C++, not with open()
        if isinstance(f, (str, os.PathLike)):
            opened.append(os.path.basename(f))
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(os, "replace", record_replace)
    monkeypatch.setattr(builtins, "open", record_open)
    monkeypatch.setattr(torch, "save", record_save)
    assert main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["checkpoint.pt", "config.json", "history.csv", "metrics.json", "model.pt",
                       "reconstructions.png", "samples.png"]
    assert set(written) <= set(replaced)  # each one arrived by os.replace from a temporary file...
    assert not set(written) & set(opened)  # ...and none was ever written in place


@pytest.mark.parametrize("exc, status, needle", [
    (KeyboardInterrupt(), 130, "interrupted; run the same command again"),
    (RuntimeError("boom\n  in two lines"), 1,
     "unexpected RuntimeError: boom; in two lines (run with VAELIB_DEBUG=1 for the traceback)"),
])
def test_interrupt_and_unexpected_errors_give_one_line(exc, status, needle, tmp_path, capsys, monkeypatch):
    import vaelib.train

    def fail(*a, **kw):
        raise exc

    monkeypatch.setattr(vaelib.train, "train", fail)
    assert main(["train", *TINY, "--out", str(tmp_path)]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_debug_shows_the_unexpected_error(tmp_path, monkeypatch):
    import vaelib.train

    def fail(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(vaelib.train, "train", fail)
    monkeypatch.setenv("VAELIB_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["train", *TINY, "--out", str(tmp_path)])



def test_a_second_train_into_a_folder_being_written_is_refused_in_one_line(tmp_path, capsys):
    import fcntl
    import os

    out = tmp_path / "run"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # the first `vaelib train --out run`, still training
    try:
        assert main(["train", "--preset", "pytorch-example", "--epochs", "1", "--subset", "200", "--no-progress",
                     "--out", str(out)]) == 1
    finally:
        os.close(fd)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is being written by another process" in err and "--restart" not in err
    assert list(out.iterdir()) == []
