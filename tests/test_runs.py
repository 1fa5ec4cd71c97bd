"""The run registry (vaelib.runs) and the notebook helper that asks for runs by name.

A run's definition lives in one place: the registry. These tests show that the notebooks name
runs instead of building configurations, that changing a registry entry changes what every
notebook using it trains, and that the cache key is the configuration alone.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import vaelib.runs as vruns
from vaelib.cache import config_key, find_folder, load_or_train
from vaelib.notebook import Session
from vaelib.runs import PRESETS, REPLICAS, RUNS, SEED_NOTEBOOK, SWEEPS, TEST_IWAE, TEST_SUBSET, TEST_SUBSET_CONV, get_run
from vaelib.runtime import series

NOTEBOOKS = series()


def _notebook_source(path: Path) -> str:
    return path.read_text()


def _names_in(node: ast.AST) -> set[str]:
    """String literals under node; SWEEPS["key"] stands for the sweep's members."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "SWEEPS":
        return set(SWEEPS[node.slice.value])
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    return set().union(*(_names_in(child) for child in ast.iter_child_nodes(node)))


def _sweep_members_in(source: str) -> set[str]:
    """SWEEPS members named anywhere in the source (SWEEPS["sigma"] stands for its runs)."""
    return {n for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name) and node.value.id == "SWEEPS" for n in _names_in(node)}


def _run_names_in(source: str) -> set[str]:
    """Every run a notebook names: string literals (or SWEEPS members) in session.run(...),
    session.runs([...]), session.configs(...), get_run(...), and in a `for name in SWEEPS[...]` loop;
    a notebook that calls session.replicas(...) also names the seed replicas of every replicated run it names."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
            fn = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if fn in ("run", "runs", "configs", "get_run") and node.args:
                names |= _names_in(node.args[0])
            if fn == "replicas":  # session.replicas(...): the seed replicas of each replicated run it names
                named = _names_in(ast.parse(source)) | _sweep_members_in(source)
                names |= {r for name in named & set(REPLICAS) for r in REPLICAS[name]}
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Subscript):
            names |= _names_in(node.iter)
    return names


def test_every_preset_is_a_run_and_every_run_a_known_preset():
    assert set(PRESETS) <= set(RUNS)
    for name, run in RUNS.items():
        assert run.name == name and run.preset in PRESETS
        assert run.notebook in {p.name[:2] for p in series()}, run
        if run.continues is not None:  # the shorter run it starts from: the same configs but the epochs
            shorter = [c.to_dict() for c in get_run(run.continues).configs()]
            longer = [c.to_dict() for c in run.configs()]
            assert shorter[0] == longer[0] and shorter[1]["epochs"] < longer[1]["epochs"]
            assert {**shorter[1], "epochs": 0} == {**longer[1], "epochs": 0}
        if run.model_changes or run.train_changes:  # says what it is, not its preset's description
            assert run.about and run.description == run.about
    for members in SWEEPS.values():
        assert set(members) <= set(RUNS) and len(set(members)) == len(members)


def test_test_mode_shrinks_only_in_test_mode_and_conv_models_see_fewer_images():
    for name in ("vae-conv", "wae", "vq-vae", "pytorch-example-2-epochs"):
        full_m, full_t = get_run(name).configs()
        test_m, test_t = get_run(name).configs(test=True)
        assert full_m == test_m and full_t.subset is None
        assert test_t.subset == (TEST_SUBSET_CONV if full_m.arch == "conv" else TEST_SUBSET)
        assert test_t.epochs == get_run(name).test_epochs and test_t.iwae_k == TEST_IWAE["iwae_k"]
    assert get_run("pytorch-example-2-epochs").configs()[1].epochs == 2
    assert get_run("gaussian-sigma-0.1").configs()[0].sigma_value == 0.1
    assert get_run("bernoulli-vae").configs(test=True)[1].epochs == 3
    test = Session(test=True, device=torch.device("cpu"))
    assert test.configs("wae") == get_run("wae").configs(test=True)


def test_a_replica_is_its_run_with_another_training_seed_and_nothing_else():
    for name, members in REPLICAS.items():
        assert members[0] == name and len(members) == len(set(members)) >= 3
        base_model, base_train = get_run(name).configs()
        for seed, replica in enumerate(members):
            model, train = get_run(replica).configs()
            assert model == base_model and train.seed == seed
            assert replace(train, seed=0) == replace(base_train, seed=0)
            assert get_run(replica).configs(test=True)[1] == replace(get_run(name).configs(test=True)[1], seed=seed)
            # seed 0 is the run itself; its other seeds belong to the notebook that asks for them
            assert get_run(replica).notebook == (get_run(name).notebook if seed == 0 else SEED_NOTEBOOK.get(name, get_run(name).notebook))


def test_unknown_names_list_the_known_ones():
    with pytest.raises(KeyError, match="known runs: pytorch-example"):
        get_run("gaussian-sigma-0.2")


def test_notebooks_name_runs_and_never_build_a_configuration():
    """No notebook builds or changes a ModelConfig/TrainConfig, or trains outside the registry."""
    forbidden = re.compile(r"\b(load_or_train|find_folder|ModelConfig\(|TrainConfig\(|variant\(|get_preset|vaelib\.train\b)"
                           r"|(?<![.\w])(replace|train)\(")  # dataclasses.replace, vaelib.train.train; not x.train()
    used = set()
    for path in NOTEBOOKS:
        source = _notebook_source(path)
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
        hits = [m.group(0) for m in forbidden.finditer(code)]
        assert not hits, f"{path.name} builds or trains a configuration by hand: {hits}"
        names = _run_names_in(source)
        assert names <= set(RUNS), f"{path.name} names unknown runs: {names - set(RUNS)}"
        used |= names | (_names_in(ast.parse(source)) & set(RUNS))
    # every run of the registry is used by some notebook: named, or a member of a sweep it uses
    sweep_members = {n for members in SWEEPS.values() for n in members}
    assert set(RUNS) - used - sweep_members == set()


def test_notebook_06_scores_the_runs_the_others_train():
    """06 lists run names; each must be a run that its own notebook (02-05) trains, or its own."""
    source = _notebook_source(next(p for p in NOTEBOOKS if p.name.startswith("06")))
    block = source[source.index("SCORED = {"):source.index("\n}\n", source.index("SCORED = {"))]
    literal = set(re.findall(r'": "([a-z0-9.-]+)"', block))
    patterned = {f"gaussian-sigma-{s}" for s in (0.03, 0.1, 0.3, 1.0)}
    assert "gaussian-sigma-{s}" in block and patterned <= set(RUNS)
    for name in literal | patterned:
        nb = get_run(name).notebook
        trainer = next(p for p in NOTEBOOKS if p.name.startswith(nb))
        assert nb == "06" or name in _names_in(ast.parse(_notebook_source(trainer))), (name, nb)


def test_changing_a_registry_entry_changes_what_every_notebook_gets(monkeypatch):
    """Edit gaussian-sigma-0.1 in the registry: notebook 03's and 06's helper calls now get the new
    configuration (and a new cache key), with no second definition to forget."""
    before = Session(test=False, device=torch.device("cpu")).configs("gaussian-sigma-0.1")
    changed = vruns.Run("gaussian-sigma-0.1", "gaussian-vae", "03", {"sigma": "fixed", "sigma_value": 0.2}, test_epochs=3)
    monkeypatch.setitem(vruns.RUNS, "gaussian-sigma-0.1", changed)
    after = Session(test=False, device=torch.device("cpu")).configs("gaussian-sigma-0.1")
    assert after[0].sigma_value == 0.2 != before[0].sigma_value
    assert config_key(*after) != config_key(*before)


def test_the_cache_key_is_the_configuration_alone(tmp_path):
    """A finished folder of the same configuration is found whatever its name; a new one is named
    after the run."""
    m, t = get_run("pytorch-example").configs(test=True)
    fresh = find_folder("pytorch-example", m, t, tmp_path)
    assert fresh.name == f"pytorch-example-{config_key(m, t)}" and not fresh.exists()
    other = tmp_path / f"an-old-name-{config_key(m, t)}"
    other.mkdir()
    (other / "model.pt").write_bytes(b"")
    (other / "metrics.json").write_text("{}")
    assert find_folder("pytorch-example", m, t, tmp_path) == other


def test_runs_load_from_the_cache_the_second_time(tmp_path, monkeypatch, capsys):
    import vaelib.cache as cache

    monkeypatch.setattr(cache, "CACHE_ROOT", tmp_path)
    monkeypatch.setitem(vruns.RUNS, "vae-std-z20", vruns.Run("vae-std-z20", "vae-std-z20", "08", test_subset=300))
    session = Session(test=True, device=torch.device("cpu"), subset=300, progress=False)
    first = session.runs(["vae-std-z20"])["vae-std-z20"]
    assert first.trained_now and not first.model.training
    again = session.run("vae-std-z20")
    assert not again.trained_now and "from the cache" in capsys.readouterr().out
    assert again.train_config == first.train_config == get_run("vae-std-z20").configs(test=True)[1]
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(first.model.reconstruct(x), again.model.reconstruct(x))
    assert load_or_train("vae-std-z20", test=True, progress=False).folder == first.folder


def test_markdown_table_formats_numbers_and_marks_missing_values():
    import pandas as pd

    from vaelib.notebook import markdown_table

    df = pd.DataFrame({"MSE": [0.0106, float("nan")], "rank": [1, 2]}, index=pd.Index(["a", "b"], name="model"))
    assert markdown_table(df).splitlines() == [
        "| model | MSE | rank |", "| --- | --- | --- |", "| a | 0.0106 | 1 |", "| b | – | 2 |"]


def test_mode_claims_raise_after_a_full_run_and_are_reported_in_test_mode(capsys):
    full, test = Session(test=False, device=torch.device("cpu")), Session(test=True, device=torch.device("cpu"))
    with full.claims():
        assert True
    with pytest.raises(AssertionError):
        with full.claims():
            assert 1 == 2
    with test.claims():
        assert 1 == 2
    assert "not checked" in capsys.readouterr().out
    with pytest.raises(KeyError):  # only a failed claim is forgiven, never a broken cell
        with test.claims():
            {}["missing"]


def test_the_long_runs_are_burda_et_als_protocol_and_nothing_in_the_series_trains_them(tmp_path):
    long = {n: r for n, r in RUNS.items() if r.long}
    assert set(long) == {f"burda-{d}-{o}-paper" for d in ("1l", "2l") for o in ("vae", "iwae-50")}
    for name, run in long.items():
        model, train = run.configs()
        assert (train.epochs, train.batch_size, train.val_size, train.scheduler, train.adam_eps) == (3280, 20, 0, "burda", 1e-4)
        assert (train.iwae_k, train.iwae_n) == (5000, 10_000)  # scored as the paper scores
        assert model.extra["k"] == (50 if "iwae" in name else 1) and model.extra["layers"] == int(name[6])
        assert run.configs(test=True)[1].epochs == 1
    import importlib.util  # noqa: PLC0415  train_all and the profile leave them out unless asked
    from pathlib import Path  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("train_all", Path(__file__).parents[1] / "benchmarks" / "train_all.py")
    train_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_all)
    assert train_all.main(["--only", "burda-1l-vae-paper", "--test", "--out", str(tmp_path)]) == 2  # none matches


def test_runs_compared_together_get_the_seeds_they_share(monkeypatch):
    """05's models have five seeds, the others three: asked for together (06 sets cnn-bce beside
    bernoulli-vae), each gets the seeds both were trained from, so seed s still pairs with seed s."""
    from vaelib import notebook
    from vaelib.runs import REPLICAS, seeds_of

    assert seeds_of("cnn-bce") == (0, 1, 2, 3, 4) and seeds_of("bernoulli-vae") == (0, 1, 2)
    assert len(REPLICAS["cnn-bce"]) == 5 and REPLICAS["cnn-bce"][3] == "cnn-bce-seed-3"
    asked = []

    class Fake:
        def __init__(self, name):
            self.name, self.trained_now = name, False

    session = notebook.Session(test=True, device=None)
    monkeypatch.setattr(notebook.Session, "run", lambda self, name, quiet=False, width=0: asked.append(name) or Fake(name))
    both = session.replicas(["cnn-bce", "bernoulli-vae"])
    assert [r.name for r in both["cnn-bce"]] == ["cnn-bce", "cnn-bce-seed-1", "cnn-bce-seed-2"]
    assert [r.name for r in both["bernoulli-vae"]] == list(REPLICAS["bernoulli-vae"])
    alone = session.replicas(["cnn-bce", "fnn-bce"])
    assert [r.name for r in alone["fnn-bce"]] == list(REPLICAS["fnn-bce"])  # all five


def test_train_all_trains_runs_side_by_side_on_one_thread_each(tmp_path, monkeypatch):
    """`make train` / `train_all --jobs 2`: each run trained once, in a worker process with torch on one
    thread, into the cache the notebooks read."""
    import importlib  # noqa: PLC0415
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from vaelib.cache import is_cached  # noqa: PLC0415

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1]))  # the workers import it by name
    train_all = importlib.import_module("benchmarks.train_all")
    cache = tmp_path / "cache"
    monkeypatch.setenv("VAELIB_CACHE", str(cache))  # (main sets it for its workers; restored after the test)
    args = ["--test", "--only", "fnn-bce", "--only", "fnn-mse", "--jobs", "2", "--cache", str(cache), "--out", str(tmp_path)]
    import torch  # noqa: PLC0415

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # here two threads, so a run trained here would say 2
    try:
        assert train_all.main(args) == 0
    finally:
        torch.set_num_threads(threads)
    record = json.loads((tmp_path / "train_all_cpu.json").read_text())
    assert record["jobs"] == 2 and set(record["runs"]) == {"fnn-bce", "fnn-mse"}
    assert all(row["trained_now"] and row["threads"] == 1 for row in record["runs"].values()), record
    assert all(is_cached(name, test=True, cache_root=cache) for name in ("fnn-bce", "fnn-mse"))  # a notebook loads them


def test_train_all_starts_a_run_that_continues_another_only_when_that_one_has_finished(monkeypatch):
    """Two at a time, burda-1l-vae-15-epochs (it continues burda-1l-vae's checkpoint) must not start
    beside burda-1l-vae: it would find that folder half written and train it a second time."""
    import importlib  # noqa: PLC0415
    import time  # noqa: PLC0415
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1]))
    train_all = importlib.import_module("benchmarks.train_all")
    events = []

    def fake_train_one(name, test, device, quiet):
        events.append(("start", name))
        time.sleep(0.2)
        events.append(("end", name))
        return {"seconds": 0.2, "trained_now": True}

    monkeypatch.setattr(train_all, "_train_one", fake_train_one)
    names = ["burda-1l-vae", "burda-1l-vae-15-epochs", "fnn-bce"]
    assert get_run(names[1]).continues == names[0]
    rows, _ = train_all.train_runs(names, test=True, jobs=2, pool=ThreadPoolExecutor(2))
    assert set(rows) == set(names)
    assert events.index(("end", names[0])) < events.index(("start", names[1])), events
    assert events.index(("start", "fnn-bce")) < events.index(("end", names[0])), events  # the others do not wait
