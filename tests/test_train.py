"""The trainer: learning, checkpoints, resuming, NaN handling, schedules, early stopping."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from resume_check import assert_resume_is_exact
from vaelib import data as vdata
from vaelib.models import ModelConfig
from vaelib.checkpoints import load_checkpoint, load_model
from vaelib.runtime import pick_device
from vaelib.train import NonFiniteLossError, TrainConfig, burda_lr, train

SMALL = ModelConfig(arch="fc", hidden=(64,), latent_dim=4)


@pytest.fixture(scope="module")
def splits():
    return vdata.load_mnist(subset=600)


def _cfg(**kw):
    base = dict(epochs=3, batch_size=64, subset=600, iwae_k=5, iwae_n=50)
    base.update(kw)
    return TrainConfig(**base)


def test_loss_falls_and_history_is_complete(splits, tmp_path):
    r = train(SMALL, _cfg(epochs=4), tmp_path, progress=False, data=splits)
    h = r.history
    assert list(h["epoch"]) == [1, 2, 3, 4]
    assert h["train_loss"].iloc[-1] < h["train_loss"].iloc[0] - 20
    assert h["val_loss"].iloc[-1] < h["val_loss"].iloc[0]
    # the reported parts add up: loss = recon + β·KL (β = 1)
    assert (h["train_loss"] - (h["train_recon"] + h["train_kl"])).abs().max() < 1e-2
    on_disk = pd.read_csv(tmp_path / "history.csv")
    assert list(on_disk.columns) == list(h.columns) and len(on_disk) == 4
    for f in ("config.json", "checkpoint.pt", "model.pt", "metrics.json"):
        assert (tmp_path / f).exists(), f
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["eval_targets"] == "grey" and m["iwae_k"] == 5
    assert m["iwae_nll"] <= -m["test_elbo"] + 5  # the IWAE bound is (noisily) tighter


def test_same_seed_same_numbers_on_cpu(splits):
    a = train(SMALL, _cfg(epochs=2), None, progress=False, data=splits, final_metrics=False)
    b = train(SMALL, _cfg(epochs=2), None, progress=False, data=splits, final_metrics=False)
    c = train(SMALL, _cfg(epochs=2, seed=1), None, progress=False, data=splits, final_metrics=False)
    assert a.history["train_loss"].tolist() == b.history["train_loss"].tolist()
    assert a.history["train_loss"].tolist() != c.history["train_loss"].tolist()


def test_checkpoint_round_trips(splits, tmp_path):
    r = train(SMALL, _cfg(epochs=1, targets="dynamic"), tmp_path, progress=False, data=splits)
    model = load_model(tmp_path / "model.pt", "cpu")
    x = torch.rand(5, 1, 28, 28)
    assert torch.equal(model.reconstruct(x), r.model.reconstruct(x))
    ckpt = load_checkpoint(tmp_path)  # weights_only=True under the hood
    assert ckpt["model_config"] == SMALL.to_dict()
    assert ckpt["train_config"]["targets"] == "dynamic"
    assert json.loads((tmp_path / "metrics.json").read_text())["eval_targets"] == "fixed"


def test_resume_after_interruption_ends_like_an_uninterrupted_run(splits, tmp_path):
    cfg = _cfg(epochs=4, targets="dynamic", scheduler="plateau", scheduler_patience=0)
    assert_resume_is_exact(SMALL, cfg, splits, tmp_path, stop_after=2)


def test_resume_refuses_another_configuration(splits, tmp_path):
    train(SMALL, _cfg(epochs=1), tmp_path, progress=False, data=splits, final_metrics=False)
    with pytest.raises(ValueError, match="another train config"):
        train(SMALL, _cfg(epochs=2, lr=1e-2), tmp_path, progress=False, data=splits)
    # growing the number of epochs is a continuation, not another run
    r = train(SMALL, _cfg(epochs=2), tmp_path, progress=False, data=splits, final_metrics=False)
    assert list(r.history["epoch"]) == [1, 2]


def test_nan_stops_with_epoch_and_step_and_keeps_last_good_checkpoint(splits, tmp_path, monkeypatch):
    import vaelib.train as vtrain

    steps, real_step, calls = 10, vtrain._step, []  # 600 images / batch 64

    def step_that_fails_at(run, x, tcfg):  # the 14th step's loss (epoch 2, step 4) is NaN
        terms, loss = real_step(run, x, tcfg)
        calls.append(1)
        return terms, loss * float("nan") if len(calls) == steps + 4 else loss

    monkeypatch.setattr(vtrain, "_step", step_that_fails_at)
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 4 of 10"):
        train(SMALL, _cfg(epochs=3), tmp_path, progress=False, data=splits)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_burda_schedule_is_ten_to_the_minus_i_over_7_for_3_to_the_i_passes():
    lrs = [burda_lr(1e-3, e) for e in range(3280)]
    phases = [lrs.count(1e-3 * 10 ** (-i / 7)) for i in range(8)]
    assert phases == [3**i for i in range(8)] and sum(phases) == 3280
    assert lrs[0] == 1e-3 and lrs[1] == lrs[3] < lrs[0] and lrs[4] < lrs[3] and math.isclose(lrs[-1], 1e-4)
    assert burda_lr(1e-3, 10_000) == lrs[-1]  # the last rate is kept after 3,280 passes


def test_the_trainer_follows_the_burda_schedule_and_adam_eps_reaches_adam(splits, tmp_path):
    cfg = _cfg(epochs=2, scheduler="burda", adam_eps=1e-4)
    r = train(SMALL, cfg, tmp_path, progress=False, data=splits, final_metrics=False)
    assert list(r.history["lr"]) == pytest.approx([1e-3, 1e-3 * 10 ** (-1 / 7)])
    assert load_checkpoint(tmp_path)["optimizer"]["param_groups"][0]["eps"] == 1e-4
    assert_resume_is_exact(SMALL, _cfg(epochs=3, scheduler="burda"), splits, tmp_path / "resume", stop_after=1)


def test_a_train_config_round_trips_through_its_dict():
    changed = TrainConfig(adam_eps=1e-4)
    assert changed.to_dict()["adam_eps"] == 1e-4 and TrainConfig.from_dict(changed.to_dict()) == changed
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


def test_plateau_schedule_and_early_stopping(splits):
    # lr so high that validation stops improving: the schedule halves it and training stops early
    cfg = _cfg(epochs=30, lr=0.05, scheduler="plateau", scheduler_patience=0, early_stopping=2)
    r = train(SMALL, cfg, None, progress=False, data=splits)
    h = r.history
    assert len(h) < 30 and r.metrics["stopped_early"]
    assert h["lr"].iloc[-1] < 0.05
    best = h["val_loss"].idxmin()
    assert len(h) - 1 - best == 2  # stopped exactly `patience` epochs after the best


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    assert pick_device().type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        assert pick_device().type in ("cpu", "mps")


def test_bad_train_config():
    with pytest.raises(ValueError):
        TrainConfig(epochs=-1)
    with pytest.raises(ValueError):
        TrainConfig(targets="sometimes")


def test_a_checkpoint_this_vaelib_cannot_rebuild_says_how_to_retrain(tmp_path):
    """A model setting that is now rejected (a β for a WAE) makes an old model.pt fail clearly."""
    from vaelib.models import build_model
    from vaelib.checkpoints import CheckpointError

    cfg = ModelConfig(kind="wae", arch="fc", hidden=(32,), latent_dim=4)
    state = build_model(cfg).state_dict()
    torch.save({"model_config": {**cfg.to_dict(), "beta": 2.0}, "model": state}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="cannot be rebuilt by this version of vaelib .*beta = 2 would be "
                                              "ignored.*train it again"):
        load_model(tmp_path / "model.pt")


def test_the_compile_switch_trains_the_same_model_and_writes_plain_checkpoints(splits, tmp_path, monkeypatch):
    """VAELIB_COMPILE compiles the forward (here with dynamo's "eager" backend: the captured graph
    run op by op, so the numbers are the eager run's); the files are those of an uncompiled run."""
    eager = train(SMALL, _cfg(epochs=1), None, progress=False, data=splits, final_metrics=False)
    monkeypatch.setenv("VAELIB_COMPILE", "eager")
    compiled = train(SMALL, _cfg(epochs=1), tmp_path, progress=False, data=splits, final_metrics=False)
    assert compiled.model._compiled_call_impl is not None, "the switch must compile the forward"
    assert compiled.history["train_loss"].tolist() == pytest.approx(eager.history["train_loss"].tolist(), rel=1e-6)
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["model"].keys() == eager.model.state_dict().keys()  # no "_orig_mod." prefixes
    plain = load_model(tmp_path / "model.pt", "cpu")
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in compiled.model.state_dict().items())


def test_a_compile_backend_that_does_not_exist_trains_eagerly_and_says_so(splits, monkeypatch):
    monkeypatch.setenv("VAELIB_COMPILE", "no-such-backend")
    with pytest.warns(UserWarning, match="training eagerly"):
        r = train(SMALL, _cfg(epochs=1), None, progress=False, data=splits, final_metrics=False)
    assert r.model._compiled_call_impl is None and len(r.history) == 1


def test_a_run_folder_has_one_writer_at_a_time(splits, tmp_path):
    """While another writer holds the folder (an OS lock on it: another process, or here another
    open of it), a second training is refused in one line and leaves its files alone; once it is
    released, training goes on."""
    import fcntl
    import os

    from vaelib.checkpoints import FolderBusyError

    first = train(SMALL, _cfg(epochs=1), tmp_path, progress=False, data=splits, final_metrics=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    fd = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # what a second `vaelib train --out` on this folder would hold
    try:
        with pytest.raises(FolderBusyError, match="is being written by another process") as e:
            train(SMALL, _cfg(epochs=2), tmp_path, progress=False, data=splits, final_metrics=False)
        assert "\n" not in str(e.value)
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    finally:
        os.close(fd)
    again = train(SMALL, _cfg(epochs=2), tmp_path, progress=False, data=splits, final_metrics=False)
    assert list(again.history["epoch"]) == [1, 2] and again.history.iloc[0].equals(first.history.iloc[0])
