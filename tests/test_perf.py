"""vaelib.perf: the FLOP count of a training step, the matmul limit, and the notebook phases."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from vaelib.models import ModelConfig, build_model
from vaelib.perf import cell_phase, matmul_gflops, matmul_limit, notebook_phases, training_flops_per_image


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


def stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


@pytest.mark.parametrize("outputs, phase", [
    ([stream("epoch   3/10  train loss 104.2 (recon ...)\n")], "training"),
    ([stream("bernoulli-vae   1,000 parameters  trained now: bernoulli-vae-123\n")], "training"),
    ([stream("bernoulli-vae   1,000 parameters  from the cache: bernoulli-vae-123\n")], "evaluation"),
    ([{"output_type": "display_data", "data": {"image/png": "...", "text/plain": "<Figure>"}}], "plotting"),
    ([stream("the epoch of 3 models\n")], "evaluation"),
    ([], "evaluation"),
])
def test_a_cell_is_read_as_training_plotting_or_evaluation(outputs, phase) -> None:
    assert cell_phase({"cell_type": "code", "outputs": outputs}) == phase


def test_notebook_phases_add_up_each_cells_seconds() -> None:
    cells = [{"outputs": [stream("epoch  1/1  ...\n")]}, {"outputs": []},
             {"outputs": [{"output_type": "display_data", "data": {"image/png": ""}}]}, {"outputs": []}]
    assert notebook_phases(cells, {0: 5.0, 1: 1.0, 2: 2.0, 3: 0.5}) == {"training": 5.0, "evaluation": 1.5,
                                                                         "plotting": 2.0}
