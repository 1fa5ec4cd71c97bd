"""The run-time records behind the profile (book/running.md): scripts/run_notebooks.py keeps each notebook's
latest full-run time and, beside it, the time of the last series run that started from an empty
cache; benchmarks/profile_series.py shows both. A notebook's training time is what its kernel
logged as trained (VAELIB_EVENTS), never what it printed."""

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
    rn.record_notebook_time("03_x", 600.0, phases, [], from_empty_cache=True, jobs=2)  # a newer one replaces it
    assert json.loads(record.read_text())["03_x"]["from an empty cache"]["seconds"] == 600.0
    rn.record_notebook_time("04_y", 20.0, {"training": 0.0, "evaluation": 18.0, "plotting": 2.0}, [])  # none yet: no entry invented
    assert "from an empty cache" not in json.loads(record.read_text())["04_y"]

    profile = _load("benchmarks/profile_series.py", "profile_series_under_test")
    monkeypatch.setattr(profile, "NOTEBOOK_TIMES", record)
    rows = profile.notebook_rows()
    assert rows.loc["03", "seconds, from an empty cache"] == 600.0 and rows.loc["03", "seconds"] == 600.0
    assert rows.loc["04", "seconds, from an empty cache"] == "not measured"  # said, not a blank cell
    assert rows.loc["03", "runs at a time, from an empty cache"] == 2  # (make run --jobs 2)
    assert rows.loc["04", "runs at a time, from an empty cache"] == "not measured"


def test_a_run_missing_from_the_cache_keeps_the_earlier_profiles_figures(tmp_path, monkeypatch):
    """Profiling a partial cache keeps the rest of the series: a run without a history takes the
    previous profile's recorded figures (same architecture only), with its matmul fraction against
    today's limit; a run with a history is read from it."""
    from vaelib.runs import RUNS

    profile = _load("benchmarks/profile_series.py", "profile_series_partial")
    monkeypatch.setattr(profile, "RUNS", {n: RUNS[n] for n in ("pytorch-example", "fnn-bce", "cnn-bce")})
    monkeypatch.setattr(profile, "run_folder", lambda name, test=False: tmp_path / name)
    (tmp_path / "fnn-bce").mkdir()
    (tmp_path / "fnn-bce" / "history.csv").write_text("train_seconds,seconds\n2.0,2.5\n4.0,4.5\n3.0,3.5\n")
    flops = 3.28  # MFLOP per image of the pytorch-example architecture
    old = {"epochs": 10, "s/epoch": 2.6, "images/s": 23000.0, "training s": 29.0}
    earlier = {"pytorch-example": {**old, "key": "pytorch-example-OLDHASH"},  # another configuration then
               "cnn-bce": {**old, "epochs": 3}}  # a profile without keys: the epochs must match (10)
    rows = profile.run_rows(100.0, earlier=earlier)
    assert rows[["epochs", "recorded"]].loc[["pytorch-example", "cnn-bce"]].isna().all().all()
    earlier["pytorch-example"]["key"] = rows.loc["pytorch-example", "key"]  # the same configuration
    rows = profile.run_rows(100.0, earlier=earlier)
    carried = rows.loc["pytorch-example"]
    assert carried["recorded"] == "earlier profile" and carried["training s"] == 29.0 and carried["epochs"] == 10
    assert abs(carried["matmul fraction"] - flops * 1e6 * 23000.0 / 100e9) < 1e-9
    fresh = rows.loc["fnn-bce"]
    assert fresh["recorded"] == "cache" and fresh["epochs"] == 3 and fresh["s/epoch"] == 3.0 and fresh["training s"] == 10.5
    assert rows.loc["cnn-bce"].isna()[["epochs", "s/epoch", "recorded"]].all()
    del earlier["pytorch-example"]["key"]  # no key: carried when the epochs match
    assert profile.run_rows(100.0, earlier=earlier).loc["pytorch-example", "recorded"] == "earlier profile"
    assert "1 of them not in this cache" in profile.summary_markdown(rows, rows.iloc[:0], "m", 100.0)


def test_refreshing_the_profile_keeps_the_last_measured_rates_of_the_same_configurations():
    """`profile_series.py --keep-measured`: the rates and step times a --measure run found stay with
    the runs whose configuration (cache folder name) is still the same, and with no other."""
    import pandas as pd

    profile = _load("benchmarks/profile_series.py", "profile_series_keep")
    runs = pd.DataFrame({"a": {"key": "a-111", "epochs": 10}, "b": {"key": "b-222", "epochs": 10}}).T
    last = {"a": {"key": "a-111", "epochs": 9, "images/s now": 5000.0, "share matmul": 0.4},
            "b": {"key": "b-OLD", "epochs": 9, "images/s now": 7000.0, "share matmul": 0.5}}
    rows = profile.with_measured(runs, last)
    assert rows.loc["a", "images/s now"] == 5000.0 and rows.loc["a", "share matmul"] == 0.4
    assert rows.loc["a", "epochs"] == 10  # what the cache says now, not the last profile
    assert pd.isna(rows.loc["b", "images/s now"]) and pd.isna(rows.loc["b", "share matmul"])  # another configuration


def test_the_runner_reads_training_from_the_kernels_events_not_its_printed_text(tmp_path):
    """One notebook through the runner's kernel: the cell that logs a "trained" event (as
    vaelib.train.train does) is training, though it prints nothing; the cell that prints what the
    trainer prints, but trains nothing, is evaluation; the cell that draws a figure is plotting."""
    rn = _load("scripts/run_notebooks.py", "run_notebooks_events")
    py = tmp_path / "99_events.py"
    py.write_text(
        "# %%\nimport time\nfrom vaelib.runtime import log_event\n"
        "t0 = time.perf_counter(); time.sleep(0.5)\n"
        "log_event('trained', run='fake-run', kind='vae', epochs=1, seconds=time.perf_counter() - t0)\n\n"
        "# %%\ntime.sleep(0.3); print('epoch   1/10  train loss 104.2\\nfake-run  trained now')\n\n"
        "# %%\nfrom IPython.display import Image, display\n"
        "display(Image(data=b'\\x89PNG\\r\\n\\x1a\\n' + bytes(16), format='png'))\n"
    )
    ok, seconds, phases, slowest = rn.run_one(py, tmp_path / "out" / "99_events.ipynb", timeout=120, kernel_name=None)
    assert ok, "the notebook failed"
    assert 0.5 <= phases["training"] < 1.5, phases
    assert phases["evaluation"] >= 0.3, phases  # the printed epoch line did not make it training
    assert phases["plotting"] > 0, phases
    assert sum(phases.values()) <= seconds


def test_a_notebook_header_reads_its_run_time_from_the_records(tmp_path):
    """setup("03") prints the measured times (never typed ones): from the cache, the latest run less
    what it trained; from an empty cache, the recorded one; nothing invented where none is measured."""
    from vaelib.notebook import run_time

    record = tmp_path / "notebook_times.json"
    record.write_text(json.dumps({
        "03_x": {"seconds": 1975.0, "training": 1743.0, "when": "2026-12-01 20:53", "cores": 2,
                 "from an empty cache": {"seconds": 1975.0, "training": 1743.0}},
        "04_y": {"seconds": 20.0, "training": 0.0, "when": "2026-12-02 01:20", "cores": 2}}))
    line = run_time("03", record)
    assert "4 min with its runs in the cache" in line and "33 min from an empty cache" in line
    assert "on a GPU: not measured yet" in line and "2-core" in line
    assert "20 s with its runs in the cache" in run_time("04", record)
    assert "from an empty cache: not measured yet" in run_time("04", record)
    assert run_time("05", record) == "Run time: not measured yet."
    assert run_time("03", tmp_path / "missing.json") == "Run time: not measured yet."


def test_a_notebook_says_what_it_will_train_before_it_starts(tmp_path):
    """`training_plan`: the runs of the notebook not in the cache, with the last profile's times;
    a run made by today's code counts as cached, one made by other code does not."""
    from vaelib.cache import code_stamp, is_cached, run_folder
    from vaelib.notebook import training_plan
    from vaelib.runs import RUNS, get_run

    names = [n for n, r in RUNS.items() if r.notebook == "10" and not r.long]
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"runs": {n: {"training s": 30.0} for n in names}}))
    cache = tmp_path / "cache"
    plan = training_plan("10", test=True, profile=profile, cache_root=cache)
    assert plan.startswith(f"Training: {len(names)} of the {len(names)} models")
    assert f"about {len(names) * 30 / 60:.0f} min" in plan and "make unbundle" in plan

    first = names[0]
    folder = run_folder(first, test=True, cache_root=cache)
    folder.mkdir(parents=True)
    for f in ("model.pt", "metrics.json"):
        (folder / f).write_text("{}")
    (folder / "code.json").write_text(json.dumps({"losses.py": "other code"}))
    assert not is_cached(first, test=True, cache_root=cache)  # made by other code: it trains again
    (folder / "code.json").write_text(json.dumps(code_stamp(get_run(first).configs(test=True)[0].kind)))
    assert is_cached(first, test=True, cache_root=cache)
    assert training_plan("10", test=True, profile=profile, cache_root=cache).startswith(
        f"Training: {len(names) - 1} of the {len(names)} models")
    assert training_plan("01", test=True, profile=profile, cache_root=cache) == \
        "Training: this notebook trains no model of its own."
    assert training_plan("02", test=True, profile=profile, cache_root=cache).startswith(  # one run: singular
        "Training: the model this notebook trains is not in the cache")


def test_make_run_trains_a_notebooks_missing_runs_first_and_counts_them_as_its_training(monkeypatch):
    """Before executing notebook 04, the runner trains the runs 04 owns that are not cached (only
    those), --jobs at a time; with --jobs 1 it leaves them to the notebook, as a student's Run All does."""
    from vaelib.runs import RUNS

    rn = _load("scripts/run_notebooks.py", "run_notebooks_pretrain")
    owned = sorted(n for n, r in RUNS.items() if r.notebook == "04" and not r.long)
    cached = {owned[0]}
    asked = []
    monkeypatch.setattr("vaelib.notebook.is_cached", lambda name, test=False, cache_root=None: name in cached)
    monkeypatch.setattr(rn, "train_runs", lambda names, test, device, jobs: asked.append((sorted(names), jobs)))
    assert rn.pretrain("04", test=True, jobs=2) >= 0
    assert asked == [(owned[1:], 2)]
    assert rn.pretrain("04", test=True, jobs=1) == 0.0 and len(asked) == 1
    cached.update(owned)
    assert rn.pretrain("04", test=True, jobs=2) == 0.0 and len(asked) == 1  # nothing missing: nothing trained
