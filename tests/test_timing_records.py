"""The run-time records behind the README's profile: scripts/run_notebooks.py keeps each notebook's
latest full-run time and, beside it, the time of the last series run that started from an empty
cache; benchmarks/profile_series.py shows both."""

from __future__ import annotations

import importlib.util
import json

from vaelib.runtime import REPO_ROOT


def _load(relative: str, name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_empty_cache_time_survives_later_runs_from_the_cache(tmp_path, monkeypatch):
    rn = _load("scripts/run_notebooks.py", "run_notebooks_under_test")
    record = tmp_path / "notebook_times.json"
    monkeypatch.setattr(rn, "NOTEBOOK_TIMES", record)
    phases = {"training": 500.0, "evaluation": 40.0, "plotting": 3.0}
    rn.record_notebook_time("03_x", 550.0, phases, [], from_empty_cache=True)
    rn.record_notebook_time("03_x", 45.0, {"training": 0.0, "evaluation": 42.0, "plotting": 3.0}, [])
    entry = json.loads(record.read_text())["03_x"]
    assert entry["seconds"] == 45.0 and entry["training"] == 0.0  # the latest run
    assert entry["from an empty cache"]["seconds"] == 550.0  # kept from the earlier one
    assert entry["from an empty cache"]["training"] == 500.0
    rn.record_notebook_time("03_x", 600.0, phases, [], from_empty_cache=True)  # a newer one replaces it
    assert json.loads(record.read_text())["03_x"]["from an empty cache"]["seconds"] == 600.0
    rn.record_notebook_time("04_y", 20.0, {"training": 0.0, "evaluation": 18.0, "plotting": 2.0}, [])  # none yet: no entry invented
    assert "from an empty cache" not in json.loads(record.read_text())["04_y"]

    profile = _load("benchmarks/profile_series.py", "profile_series_under_test")
    monkeypatch.setattr(profile, "NOTEBOOK_TIMES", record)
    rows = profile.notebook_rows()
    assert rows.loc["03", "seconds, from an empty cache"] == 600.0 and rows.loc["03", "seconds"] == 600.0
    assert rows.loc["04", "seconds, from an empty cache"] == ""
