"""benchmarks.perf: the FLOP count of a training step, the matmul limit, where a step's time goes, and the notebook phases,
which are read from the "trained" events vaelib logs (vaelib.runtime.log_event), never from
printed text."""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from vaelib.models import ModelConfig, build_model
from vaelib.runtime import EVENTS_VAR, REPO_ROOT, log_event

sys.path.insert(0, str(REPO_ROOT))  # the tooling package `benchmarks`, outside the student's library
from benchmarks.perf import (  # noqa: E402
    STEP_PARTS, matmul_gflops, matmul_limit, notebook_phases, op_part, read_events, step_breakdown, step_shares,
    training_flops_per_image,
)


class OneLayer(nn.Module):
    """loss = sum of a linear map of x, after a batch norm (a buffer that training would move)."""

    def __init__(self, d_in: int = 10, d_out: int = 5) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(d_in)
        self.fc = nn.Linear(d_in, d_out)

    def forward(self, x):
        return SimpleNamespace(loss=self.fc(self.norm(x)).sum(1))


def test_a_linear_layer_costs_its_forward_and_both_gradients_per_image() -> None:
    model = OneLayer(10, 5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    # forward [B, 10] @ [10, 5]: 2·10·5 per image; backward: the weight's gradient and the
    # input's (the batch norm's scale and shift below need it), the same again each
    flops = training_flops_per_image(model, torch.randn(32, 10))
    assert flops == pytest.approx(3 * (2 * 10 * 5))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "batch-norm statistics must be restored"
    assert not model.training and all(p.grad is None for p in model.parameters())


def test_the_pytorch_example_vae_costs_what_its_layers_say() -> None:
    model = build_model(ModelConfig(arch="fc", hidden=(400,), decoder_hidden=(400,), latent_dim=20))
    x = torch.rand(16, 1, 28, 28)
    macs = 784 * 400 + 400 * 40 + 20 * 400 + 400 * 784  # encoder, (μ, log σ²), decoder
    # forward 2·macs; backward: every weight gradient (2·macs) and every input gradient except the
    # first layer's (x needs no gradient): 2·(macs − 784·400)
    expected = 2 * macs + 2 * macs + 2 * (macs - 784 * 400)
    assert training_flops_per_image(model, x) == pytest.approx(expected, rel=0.01)


def test_the_matmul_limit_is_a_positive_throughput() -> None:
    g = matmul_gflops(64, 64, 64, seconds=0.01)
    assert 0 < g < 1e6
    assert matmul_limit([(64, 64, 64), (32, 32, 32)], seconds=0.01) > 0


def test_a_profiled_op_counts_as_a_product_an_update_or_other_work() -> None:
    for name in ("aten::mm", "aten::addmm", "aten::bmm", "aten::mkldnn_convolution", "aten::convolution_backward"):
        assert op_part(name) == "matmul", name
    for name in ("Optimizer.step#Adam.step", "aten::_fused_adam_"):
        assert op_part(name) == "optimizer", name
    for name in ("aten::log_sigmoid_forward", "aten::copy_", "aten::sum", "aten::mul", "aten::tanh"):
        assert op_part(name) == "other ops", name
    shares = step_shares([("aten::addmm", 0.5), ("aten::mm", 0.1), ("aten::tanh", 0.2), ("Optimizer.step#Adam.step", 0.05)], 1.0)
    assert shares == pytest.approx({"matmul": 0.6, "other ops": 0.2, "optimizer": 0.05, "outside ops": 0.15})


def test_a_training_steps_time_splits_into_its_parts() -> None:
    model = ModelConfig(arch="fc", hidden=(64,), decoder_hidden=(64,), latent_dim=4)
    from vaelib.train import TrainConfig  # noqa: PLC0415

    parts = step_breakdown(model, TrainConfig(batch_size=32, epochs=1), steps=3)
    assert sum(parts[k] for k in STEP_PARTS) == pytest.approx(1.0)
    assert parts["matmul"] > 0 and parts["other ops"] > 0 and parts["optimizer"] > 0
    assert 0 < parts["matmul GFLOP/s"] < 1e6


def stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


FIGURE = {"output_type": "display_data", "data": {"image/png": "...", "text/plain": "<Figure>"}}


def trained(at: float, seconds: float, run: str = "fnn-bce-0123456789") -> dict:
    return {"event": "trained", "time": at, "run": run, "kind": "vae", "epochs": 1, "seconds": seconds}


def test_printed_training_lines_without_an_event_are_evaluation() -> None:
    """What the trainer prints is not read: a cell that prints an epoch line and "trained now" but
    logged no event trained nothing, and a cell that logged one trained, whatever it printed."""
    printed = {"outputs": [stream("epoch   1/10  train loss 104.2 (recon ...)\n"
                                  "bernoulli-vae   1,000 parameters  trained now: bernoulli-vae-123\n")]}
    silent = {"outputs": []}
    spans = {0: (100.0, 104.0), 1: (104.5, 110.0)}
    assert notebook_phases([printed, silent], spans, []) == {"training": 0.0, "evaluation": 9.5, "plotting": 0.0}
    assert notebook_phases([printed, silent], spans, [trained(109.0, 5.0)]) == {
        "training": 5.0, "evaluation": 4.5, "plotting": 0.0}


def test_each_event_counts_in_the_cell_that_ran_it_and_the_rest_of_a_cell_by_its_outputs() -> None:
    cells = [{"outputs": [stream("loading\n")]},            # trains two runs, then scores them
             {"outputs": [FIGURE]},                           # trains one (a loss curve), then draws it
             {"outputs": [FIGURE]},                           # only draws
             {"outputs": []},                                 # a longer log than the cell: capped
             {"outputs": []}]                                 # nothing trained
    spans = {0: (0.0, 10.0), 1: (10.5, 14.0), 2: (14.0, 15.0), 3: (15.0, 16.0), 4: (16.0, 18.0)}
    events = [trained(3.0, 3.0), trained(8.0, 4.0), trained(13.0, 2.5), trained(15.5, 9.0),
              trained(50.0, 7.0)]  # after every cell: belongs to none
    phases = notebook_phases(cells, spans, events)
    assert phases == pytest.approx({"training": 7.0 + 2.5 + 1.0, "evaluation": 3.0 + 0.0 + 2.0, "plotting": 1.0 + 1.0})
    assert sum(phases.values()) == pytest.approx(sum(end - start for start, end in spans.values()))


def test_the_events_file_holds_what_vaelib_logs(tmp_path, monkeypatch) -> None:
    path = tmp_path / "events.jsonl"
    assert read_events(path) == []  # nothing trained, no file
    monkeypatch.delenv(EVENTS_VAR, raising=False)
    log_event("trained", run="x", kind="vae", epochs=1, seconds=1.0)  # no file named: nothing written
    assert not path.exists()
    monkeypatch.setenv(EVENTS_VAR, str(path))
    log_event("trained", run="fnn-bce-0123", kind="vae", epochs=3, seconds=2.5)
    log_event("loaded", run="cnn-bce-4567")  # another event: not training
    with path.open("a") as f:
        f.write('{"event": "trained", "time": 1')  # a kernel killed mid-line
    (event,) = read_events(path)
    assert event["run"] == "fnn-bce-0123" and event["seconds"] == 2.5 and event["epochs"] == 3
    assert 0 <= time.time() - event["time"] < 60  # unix seconds: the clock the runner times its cells on


def test_vaelibs_trainers_log_what_they_trained(tmp_path, monkeypatch) -> None:
    """vaelib.train.train and the MNIST classifier's trainer each log one "trained" event."""
    from vaelib.eval.classifier import train_classifier  # noqa: PLC0415
    from vaelib.train import TrainConfig, train  # noqa: PLC0415

    path = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_VAR, str(path))
    train(ModelConfig(arch="fc", hidden=(16,), decoder_hidden=(16,), latent_dim=2),
          TrainConfig(epochs=1, subset=64, val_size=64, batch_size=32), None, device="cpu", progress=False,
          final_metrics=False)
    train_classifier(epochs=1, subset=64, device="cpu", progress=False, channels=(2, 2), hidden=8, val_size=64)
    vae, classifier = read_events(path)
    assert (vae["run"], vae["epochs"], classifier["kind"], classifier["epochs"]) == (None, 1, "classifier", 1)
    assert classifier["run"].startswith("classifier-")
    assert vae["seconds"] > 0 and classifier["seconds"] > 0


def test_the_compile_benchmark_measures_both_ways_and_leaves_the_switch_as_it_was(monkeypatch) -> None:
    """benchmarks/compiled_step.py: one rate with VAELIB_COMPILE unset, one with it at 1, and the
    variable as it was before (a benchmark must not switch compiling on for what runs after it)."""
    import os  # noqa: PLC0415

    import benchmarks.compiled_step as compiled_step  # noqa: PLC0415

    seen = []
    monkeypatch.setattr(compiled_step, "training_rate", lambda m, t, steps: seen.append(os.environ.get("VAELIB_COMPILE")) or 100.0 * len(seen))
    monkeypatch.setenv("VAELIB_COMPILE", "0")
    assert compiled_step.rates("pytorch-example", steps=2) == (100.0, 200.0)
    assert seen == [None, "1"] and os.environ["VAELIB_COMPILE"] == "0"
