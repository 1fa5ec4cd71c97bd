"""Group training (vaelib.group): a model trained in a group is the model trained alone."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from vaelib.group import group_key, train_group, use_groups
from vaelib.models import ModelConfig
from vaelib.train import TrainConfig, train

SMALL = ModelConfig(arch="fc", hidden=(64,), decoder_hidden=(64,), latent_dim=4)
FAST = TrainConfig(epochs=2, batch_size=64, subset=256, iwae_k=5, iwae_n=20)
# vmap blocks the batched products differently from a solo run's: the same arithmetic up to float
# rounding, which two epochs of Adam keep at this size
RTOL, ATOL = 1e-4, 1e-5


def solo(m, t, out=None):
    return train(m, t, out, progress=False)


def assert_same_run(a, b) -> None:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=RTOL, atol=ATOL, msg=k)
    cols = [c for c in a.history.columns if "seconds" not in c]
    torch.testing.assert_close(torch.tensor(a.history[cols].to_numpy(float)),
                               torch.tensor(b.history[cols].to_numpy(float)), rtol=RTOL, atol=1e-3)


@pytest.mark.parametrize("members", [
    [(SMALL, FAST), (SMALL, replace(FAST, seed=1))],  # seed replicas
    [(SMALL, FAST), (replace(SMALL, beta=4.0), FAST), (replace(SMALL, beta=0.5), replace(FAST, seed=2))],  # β sweep
    [(replace(SMALL, likelihood="gaussian", sigma_value=s), replace(FAST, targets="grey")) for s in (0.1, 0.3)],  # σ
    [(SMALL, replace(FAST, targets="dynamic")), (SMALL, replace(FAST, targets="dynamic", seed=5))],  # binarized
], ids=["seeds", "beta", "sigma", "dynamic"])
def test_each_member_of_a_group_is_the_run_trained_alone(members, tmp_path) -> None:
    group = train_group([(m, t, tmp_path / str(i)) for i, (m, t) in enumerate(members)])
    for (m, t), g in zip(members, group):
        assert_same_run(g, solo(m, t))
        assert g.metrics.keys() == solo(m, t).metrics.keys()
    # each member has the files of a solo run
    assert all((tmp_path / str(i) / f).exists() for i in range(len(members))
               for f in ("checkpoint.pt", "history.csv", "model.pt", "metrics.json", "config.json"))


def test_the_members_differ_from_each_other(tmp_path) -> None:
    a, b = train_group([(SMALL, FAST, None), (SMALL, replace(FAST, seed=1), None)])
    assert not torch.allclose(a.model.encoder.mu.weight, b.model.encoder.mu.weight)


def test_a_members_checkpoint_resumes_as_a_solo_run(tmp_path) -> None:
    one = replace(FAST, epochs=1)
    train_group([(SMALL, one, tmp_path / "a"), (SMALL, replace(one, seed=1), tmp_path / "b")])
    resumed = solo(SMALL, replace(FAST, seed=1), tmp_path / "b")  # epoch 2 alone, from the group's checkpoint
    assert list(resumed.history["epoch"]) == [1, 2]
    assert_same_run(resumed, solo(SMALL, replace(FAST, seed=1)))


def test_a_group_resumes_from_its_members_checkpoints(tmp_path) -> None:
    members = [(SMALL, FAST), (SMALL, replace(FAST, seed=1))]
    train_group([(m, replace(t, epochs=1), tmp_path / str(i)) for i, (m, t) in enumerate(members)])
    again = train_group([(m, t, tmp_path / str(i)) for i, (m, t) in enumerate(members)])
    for (m, t), g in zip(members, again):
        assert_same_run(g, solo(m, t))


def test_which_runs_can_share_a_group() -> None:
    key = group_key(SMALL, FAST)
    assert key is not None
    assert group_key(SMALL, replace(FAST, seed=7)) == key
    assert group_key(replace(SMALL, beta=2.0, sigma_value=0.5), FAST) == key
    assert group_key(replace(SMALL, latent_dim=8), FAST) != key
    assert group_key(SMALL, replace(FAST, lr=3e-4)) != key
    assert group_key(replace(SMALL, batch_norm=True), FAST) is None
    assert group_key(SMALL, replace(FAST, scheduler="plateau")) is None
    assert group_key(replace(SMALL, kind="wae"), FAST) is None
    with pytest.raises(ValueError, match="group"):
        train_group([(SMALL, FAST, None), (replace(SMALL, latent_dim=8), FAST, None)])


def test_groups_are_used_on_a_gpu_unless_told(monkeypatch) -> None:
    monkeypatch.delenv("VAELIB_GROUP", raising=False)
    assert use_groups(torch.device("cuda")) and not use_groups(torch.device("cpu"))
    monkeypatch.setenv("VAELIB_GROUP", "1")
    assert use_groups(torch.device("cpu"))
    monkeypatch.setenv("VAELIB_GROUP", "0")
    assert not use_groups(torch.device("cuda"))


def test_the_cache_trains_the_missing_runs_of_a_sweep_in_one_group(tmp_path, monkeypatch) -> None:
    import vaelib.group as vgroup
    from vaelib.cache import cached_runs
    from vaelib.runs import REPLICAS

    calls = []
    real = vgroup.train_group
    monkeypatch.setattr(vgroup, "train_group", lambda members, **kw: calls.append(len(members)) or real(members, **kw))
    names = [*REPLICAS["fnn-bce"], "wae"]  # three replicas share a group; the WAE trains alone
    first = cached_runs(names, test=True, cache_root=tmp_path, device="cpu", progress=False, groups=True)
    assert calls == [3] and all(first[n].trained_now for n in names)
    again = cached_runs(names, test=True, cache_root=tmp_path, device="cpu", progress=False, groups=True)
    assert calls == [3] and not any(again[n].trained_now for n in names)
    alone = cached_runs(list(REPLICAS["fnn-bce"][1:2]), test=True, cache_root=tmp_path / "solo", device="cpu",
                        progress=False, groups=False)
    assert calls == [3]
    assert_same_run(first[REPLICAS["fnn-bce"][1]], alone[REPLICAS["fnn-bce"][1]])
