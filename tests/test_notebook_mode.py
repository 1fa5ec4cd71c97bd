"""vaelib.notebook's Mode: what the test mode changes, and nothing in full mode."""

from __future__ import annotations

import torch

from vaelib.notebook import Mode
from vaelib.presets import get_preset


def test_overrides_shrink_only_in_test_mode_and_conv_models_see_fewer_images():
    test, full = Mode(test=True, device=torch.device("cpu"), subset=2000), Mode(test=False, device=torch.device("cpu"))
    assert full.preset_overrides(get_preset("vae-conv")) == {} == full.preset_overrides(get_preset("wae"))
    assert test.preset_overrides(get_preset("wae"))["subset"] == 2000
    conv = test.preset_overrides(get_preset("vq-vae"), test_epochs=2)
    assert conv["subset"] == 500 and conv["epochs"] == 2
    assert full.n(full=10, test=1) == 10 and test.n(full=10, test=1) == 1


def test_train_presets_loads_from_the_cache_the_second_time(tmp_path, monkeypatch, capsys):
    import vaelib.cache as cache

    monkeypatch.setattr(cache, "CACHE_ROOT", tmp_path)
    mode = Mode(test=True, device=torch.device("cpu"), subset=300, progress=False)
    presets = {"vae-std-z20": get_preset("vae-std-z20")}
    first = mode.train_presets(presets)
    assert first["vae-std-z20"].trained_now and not first["vae-std-z20"].model.training
    again = mode.train_presets(presets)
    assert not again["vae-std-z20"].trained_now and "from the cache" in capsys.readouterr().out
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(first["vae-std-z20"].model.reconstruct(x), again["vae-std-z20"].model.reconstruct(x))


def test_markdown_table_formats_numbers_and_marks_missing_values():
    import pandas as pd

    from vaelib.notebook import markdown_table

    df = pd.DataFrame({"MSE": [0.0106, float("nan")], "rank": [1, 2]}, index=pd.Index(["a", "b"], name="model"))
    assert markdown_table(df).splitlines() == [
        "| model | MSE | rank |", "| --- | --- | --- |", "| a | 0.0106 | 1 |", "| b | – | 2 |"]
