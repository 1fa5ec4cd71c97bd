"""The autograder against honest, careless and cheating students (vaecourse.grader, sandbox,
probes, checks, classroom).

The solution notebooks score full marks and their untouched student versions zero; a partly
solved notebook scores exactly what it solves; typical mistakes fail with a hint. Then the
attacks, each a submission a student could hand in: replacing or forging the grader's results,
reaching for vaelib's references or the solution notebooks, values that lie, a submission that
decides what counts, escaping the sandbox (files outside it, a shell, the network, children that
outlive it, resource bombs) and malformed notebooks. Every grade() call starts one isolated
student process; the submissions are graded at once in a module fixture.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vaecourse import sandbox
from vaecourse.assignments import EXERCISE_TAG, exercises, read_notebook
from vaecourse.check_helpers import CheckFailed
from vaecourse.checks import CHECKS, check_exercise
from vaecourse.cli import main
from vaecourse.probes import defined_names
from vaecourse.grader import FAILED, NOT_ATTEMPTED, PASSED, GradingError, format_report, grade, student_library
from vaecourse.student import write_student_versions
from vaelib.runtime import series

SOURCES = series()
WITH_EXERCISES = [p for p in SOURCES if exercises(read_notebook(p))]
NB02 = next(p for p in SOURCES if p.stem.startswith("02"))
REPO = NB02.parents[1]
WHY_NOT_ISOLATED = sandbox._namespaces_work()
ISOLATED = WHY_NOT_ISOLATED is None
needs_isolation = pytest.mark.skipif(not ISOLATED, reason=f"no namespace isolation here: {WHY_NOT_ISOLATED}")


def _statuses(report: dict) -> dict[str, str]:
    return {e["id"]: e["status"] for e in report["exercises"]}


def _hints(report: dict) -> dict[str, str]:
    return {e["id"]: e["hint"] or "" for e in report["exercises"]}


def _nb(path: Path, *sources: str, meta: dict | None = None) -> Path:
    nb = new_notebook(cells=[new_code_cell(s, metadata={"tags": [EXERCISE_TAG]}) for s in sources])
    nb.metadata.update(meta or {})
    nbformat.write(nb, path)
    return path


# ----------------------------------------------------------------------------- the submissions

MISTAKES = {
    "02": ['''import torch
def reparameterize(mu, logvar):
    return mu + torch.exp(logvar) * torch.randn_like(mu)  # the variance, not the standard deviation
''', '''def kl_std_normal(mu, logvar):
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).mean(dim=1)  # a mean over dimensions
''', '''from vaelib.losses import ELBOTerms
def elbo(log_px_given_z, kl, beta=1.0):
    bound = log_px_given_z - beta * kl  # the "ELBO" changes with beta
    return ELBOTerms(reconstruction=log_px_given_z, kl=kl, elbo=bound, loss=-bound, beta=beta)
''', '''import torch
from vaelib.losses import gaussian_diag_log_prob
def iwae_bound(model, x, k):
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(k, *mu.shape)
    log_w = model.log_likelihood(x, model.decode(z)) + model.log_prior(z) - gaussian_diag_log_prob(z, mu, logvar)
    return torch.logsumexp(log_w, dim=0)  # no - log k
'''],
    "03": ['''import torch
def bernoulli_log_prob(x, logits):
    p = torch.sigmoid(logits)  # log(sigmoid) overflows for large logits
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).reshape(len(x), -1).sum(1)
''', '''import torch
def gaussian_log_prob(x, mean, log_sigma):
    log_sigma = torch.as_tensor(log_sigma)
    return (-(x - mean) ** 2 / (2 * torch.exp(2 * log_sigma)) - log_sigma).reshape(len(x), -1).sum(1)  # no log 2pi
'''],
    "05": ['''from torch import nn
class ConvDecoder(nn.Module):  # no transposed convolution
    def __init__(self, latent_dim):
        super().__init__()
        self.fc = nn.Linear(latent_dim, 784)

    def forward(self, z):
        return self.fc(z).reshape(-1, 1, 28, 28)
'''],
    "06": ['''import torch
def active_units(means, threshold=0.01):
    return int((means.var(dim=1) > threshold).sum())  # the variance over one image's dimensions
'''],
    "07": ['''import torch
def roc_auc(scores_normal, scores_anomalous):
    return (scores_anomalous[:, None] > scores_normal[None, :]).float().mean().item()  # a tie counts 0
'''],
    "08": ['''import torch
def traverse(z0, dim, values):
    z0[dim] = 0.0  # writes into the caller's code
    return torch.stack([torch.cat([z0[:dim], v.reshape(1), z0[dim + 1:]]) for v in values])
'''],
    "09": ['''import torch
def mmd_unbiased(z_q, z_p, scales):
    k = lambda a, b: sum(c / (c + torch.cdist(a, b) ** 2) for c in scales)  # noqa: E731
    return k(z_q, z_q).mean() + k(z_p, z_p).mean() - 2 * k(z_q, z_p).mean()  # keeps the i = j terms
'''],
}
MISTAKE_HINTS = {
    "reparameterize": "sigma^2 = exp(logvar), not sigma",
    "kl_std_normal": "sum over the latent dimensions, do not average",
    "elbo": "the ELBO is reconstruction - KL whatever beta",
    "iwae_bound": "subtract log k",
    "bernoulli_log_prob": "not log(sigmoid(logits))",
    "gaussian_log_prob": "-0.5 * log(2 pi)",
    "ConvDecoder": "nn.ConvTranspose2d",
    "active_units": "take the variance over the images, dim 0",
    "roc_auc": "tied pairs (s_a = s_n) count ½, not 0",
    "traverse": "z0 was modified",
    "mmd_unbiased": "leave out the i = j terms",
}

#: the other typical mistakes of exercises that have several, each with a phrase of its hint (checked in
#: this process under every seed; the graded notebooks above hold one mistake per exercise)
MORE_MISTAKES = [(f"def active_units(means, threshold=0.01):\n    return {body}\n", hint) for body, hint in [
    ("int((means.var(0) <= threshold).sum())", "counts the inactive dimensions"),
    ("int((means.abs().mean(0) > threshold).sum())", "thresholds the mean |mu|"),
    ("int((means.pow(2).mean(0) > threshold).sum())", "thresholds the mean mu^2"),
    ("int((means.std(0) > threshold).sum())", "compare the variance"),
    ("means.var(0) > threshold", "one value per latent dimension"),
    ("means.var(1) > threshold", "one value per image: take the variance over the images"),
    ("int((means.var(0) > 0.01).sum())", "the threshold argument is ignored"),
]] + [("def roc_auc(scores_normal, scores_anomalous):\n    sn, sa = scores_normal, scores_anomalous\n"
       f"    return {body}\n", hint) for body, hint in [
    ("((sa[:, None] < sn) + 0.5 * (sa[:, None] == sn)).float().mean().item()", "the direction is reversed"),
    ("(sa[:, None] >= sn).float().mean().item()", "count ½, not 1"),
    ("float(sa.mean() > sn.mean())", "compares only the two mean scores"),
    ("sa.mean() > sn.mean()", "compares only the two mean scores"),
    ("(sa[:, None] > sn).float()", "must return one number"),
    ("sum(float((s > sn).sum() + (s > sa).sum() + 0.5 * ((s == sn).sum() + (s == sa).sum() + 1)) for s in sa)"
     " / (len(sa) * len(sn))", "needs the n_a (n_a + 1) / 2 subtracted"),  # mid-ranks R_a, the term left out
]]
#: right answers other than the notebooks' solutions: they pass under every seed
RIGHT_TOO = ["def active_units(means, threshold=0.01):\n    return (means.var(0, unbiased=False) > threshold).sum()\n",
             "def roc_auc(scores_normal, scores_anomalous):\n    d = scores_anomalous[:, None] - scores_normal\n"
             "    return ((d > 0).double() + 0.5 * (d == 0).double()).mean()\n"]

KL_RIGHT = "def kl_std_normal(mu, logvar):\n    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)\n"


def _reference_reaching(tmp: Path) -> Path:
    """Every way to a reference the old grader left open, one per exercise of 02."""
    return _nb(tmp / "02_reach.ipynb", f'''
import vaelib.losses as L
def reparameterize(mu, logvar):
    return L.reparameterize(mu, logvar)
''', f'''
src = open({str(REPO / "vaelib" / "losses.py")!r}).read()  # exec the library's source
ref = {{}}
exec(src, ref)
def kl_std_normal(mu, logvar):
    return ref["kl_std_normal"](mu, logvar)
''', f'''
import json
nb = json.load(open({str(NB02.with_suffix(".ipynb"))!r}))  # copy the solution cell
cell = [c for c in nb["cells"] if "def elbo(" in "".join(c["source"])][0]
solution = {{}}
exec("".join(cell["source"]), solution)
def elbo(log_px_given_z, kl, beta=1.0):
    return solution["elbo"](log_px_given_z, kl, beta)
''', '''
import gc
found = [o for o in gc.get_objects() if callable(o) and getattr(o, "__name__", "") in ("iwae_bound", "kl_std_normal_terms")]
def iwae_bound(model, x, k):
    return found[0](model, x, k)
''')


def _lying(tmp: Path) -> Path:
    """Values that lie: a tensor subclass, a patched torch.allclose, replaced probes."""
    return _nb(tmp / "02_lying.ipynb", '''
import torch
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.all, torch.isclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
def kl_std_normal(mu, logvar):
    return mu.sum(1).as_subclass(Liar)
''', '''
import torch
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
def reparameterize(mu, logvar):
    return mu
''', '''
import sys
for m in list(sys.modules.values()):
    if hasattr(m, "PROBES"):
        for key in list(m.PROBES):
            m.PROBES[key] = lambda f, p: {"out": 0.0}
def elbo(log_px, kl, beta=1.0):
    return None
''')


def _forging(tmp: Path) -> Path:
    """Forged results written where the grader reads them, then a hard exit."""
    return _nb(tmp / "02_forge.ipynb", '''
import os, torch
fake = {ex: {"status": "passed", "module": "student_notebook", "callable": True, "is_class": False,
             "outputs": {"out": torch.zeros(6)}} for ex in ("reparameterize", "kl_std_normal", "elbo", "iwae_bound")}
import json
for path in (json.load(open("/grader/job/payload.json"))["results"], os.path.join(os.getcwd(), "results.pt")):
    try:
        torch.save(fake, path)
    except Exception:
        pass
os._exit(0)
''')


def _escaping(tmp: Path, port: int) -> Path:
    """Files outside the sandbox four ways, a shell through ctypes and _posixsubprocess, the network;
    the last cell reports the process's identity in its error message."""
    out = tmp / "escaped"
    return _nb(tmp / "02_escape.ipynb", f'''
import os
os.path.realpath = lambda p, *a, **k: "/grader/work/ok"
for attempt in (lambda: open({str(out)!r} + "-open", "w").write("x"),
                lambda: os.symlink("/etc/passwd", {str(out)!r} + "-symlink"),
                lambda: os.link(__file__ if "__file__" in globals() else "/etc/hostname", {str(out)!r} + "-link"),
                lambda: os.rename("/grader/work", {str(out)!r} + "-rename"),
                lambda: os.open({out.name!r} + "-dirfd", os.O_CREAT | os.O_WRONLY, dir_fd=os.open({str(tmp)!r}, os.O_RDONLY))):
    try:
        attempt()
    except Exception:
        pass
''', f'''
import ctypes
ctypes.CDLL(None).system(b"touch {out}-ctypes; echo hi > /tmp/inside")
try:
    import _posixsubprocess, os
    r, w = os.pipe()
    _posixsubprocess.fork_exec(["/bin/sh", "-c", "touch {out}-fork_exec"], [b"/bin/sh"], True, (), None, None,
                               -1, -1, -1, -1, -1, -1, r, w, True, False, None, None, None, -1, None, False)
except Exception:
    pass
''', f'''
import socket
def reparameterize(mu, logvar):
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    return mu
''', '''
import os
raise RuntimeError(f"uid={os.getuid()} pid={os.getpid()} repo={os.path.exists(%r)} notebooks={os.path.exists(%r)}")
def kl_std_normal(mu, logvar):
    pass
''' % (str(REPO / "vaelib"), str(NB02)))


def _lingering(tmp: Path) -> Path:
    """A child that keeps the output open and outlives the student process; the exercise is right."""
    return _nb(tmp / "02_linger.ipynb", '''
import subprocess
subprocess.Popen(["sleep", "617"], start_new_session=True)
''', KL_RIGHT)


def _bombs(tmp: Path) -> Path:
    """Memory, processes, file size, disk: each cell reports what stopped it in its error message."""
    return _nb(tmp / "02_bombs.ipynb", '''
blob = bytearray(40 * 1024**3)
def reparameterize(mu, logvar):
    pass
''', '''
import os
pids = []
try:
    for _ in range(500):
        pid = os.fork()
        if pid == 0:
            import time
            time.sleep(30)
            os._exit(0)
        pids.append(pid)
except OSError as e:
    raise RuntimeError(f"fork stopped after {len(pids)}: {e}")
def kl_std_normal(mu, logvar):
    pass
''', '''
with open("/grader/work/big", "wb") as f:
    for _ in range(200):
        f.write(b"x" * 1024**2)
def elbo(a, b, beta=1.0):
    pass
''', '''
n = 0
try:
    while n < 20:  # 20 x 60 MiB into the work folder (HOME, the cwd)
        with open(f"fill{n}", "wb") as f:
            f.write(b"x" * 60 * 1024**2)
        n += 1
except OSError as e:
    raise RuntimeError(f"the disk stopped after {n}: {e}")
def iwae_bound(model, x, k):
    pass
''')


def _malformed(tmp: Path) -> dict[str, Path]:
    files = {}
    for name, text in {"list": "[1, 2]", "null": "null", "truncated": '{"cells": [', "no cells": "{}",
                       "cell is a string": '{"cells": ["x"]}'}.items():
        files[name] = tmp / f"02_{name.replace(' ', '_')}.ipynb"
        files[name].write_text(text)
    files["no source"] = tmp / "02_nosource.ipynb"
    files["no source"].write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {"tags": ["exercise"]}}]}))
    files["string tags"] = tmp / "02_strtags.ipynb"
    files["string tags"].write_text(json.dumps({"cells": [
        {"cell_type": "code", "metadata": "exercise", "source": KL_RIGHT},
        {"cell_type": "code", "metadata": {"tags": "exercise"}, "source": KL_RIGHT}], "metadata": "x"}))
    files["deep"] = _nb(tmp / "02_deep.ipynb", "x = " + "(" * 200_000 + ")" * 200_000 + "\n" + KL_RIGHT)
    nb = new_notebook(cells=[
        new_code_cell("def kl_std_normal(mu, logvar):\n    raise AssertionError('bad \\ud800 surrogate')\n",
                      metadata={"tags": [EXERCISE_TAG]}),
        new_markdown_cell("**Question.** why?", metadata={"tags": ["question"]}),
        new_markdown_cell("my answer \ud800 with a lone surrogate", metadata={"tags": ["answer"]})])
    files["surrogate"] = tmp / "02_surrogate.ipynb"
    files["surrogate"].write_text(json.dumps(nb, ensure_ascii=True))
    return files


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("graded")
    student = tmp_path_factory.mktemp("student")
    write_student_versions(student, WITH_EXERCISES)
    server = socket.create_server(("127.0.0.1", 0))
    jobs: dict[str, tuple[Path, dict]] = {}
    for p in WITH_EXERCISES:
        jobs[f"solution {p.stem}"] = (p.with_suffix(".ipynb"), {})
        jobs[f"student {p.stem}"] = (student / f"{p.stem}.ipynb", {})
    solutions = {e.id: e.source for e in exercises(read_notebook(NB02))}
    partly = nbformat.read(student / f"{NB02.stem}.ipynb", as_version=4)
    for cell in partly.cells:
        if EXERCISE_TAG in cell.metadata.get("tags", []) and "def kl_std_normal(" in cell.source:
            cell.source = solutions["kl_std_normal"]
    nbformat.write(partly, tmp / "ada_02.ipynb")
    jobs["partly solved"] = (tmp / "ada_02.ipynb", {})
    jobs["metadata decides"] = (_nb(tmp / "bob.ipynb", KL_RIGHT,
                                    meta={"vaelib_assignment": {"notebook": "nonexistent", "exercises": ["kl_std_normal"]}}),
                                {"assignment": "02"})
    for number, cells in MISTAKES.items():
        jobs[f"mistakes {number}"] = (_nb(tmp / f"mistakes_{number}.ipynb", *cells), {})
    if ISOLATED:
        jobs["reaching"] = (_reference_reaching(tmp), {})
        jobs["lying"] = (_lying(tmp), {})
        jobs["forging"] = (_forging(tmp), {})
        jobs["escaping"] = (_escaping(tmp, server.getsockname()[1]), {})
        jobs["lingering"] = (_lingering(tmp), {"timeout": 200})
        jobs["bombs"] = (_bombs(tmp), {})
        jobs["looping"] = (_nb(tmp / "02_loop.ipynb", "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                                                      "while True:\n    pass\n"), {"timeout": 10})
    for name, path in _malformed(tmp).items():
        jobs[f"malformed {name}"] = (path, {})
    (tmp / "reports").mkdir()
    (tmp / "reports" / "malformed surrogate.json").write_text('{"an": "earlier report"}')
    reports: dict = {}
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            # without namespaces (some containers) the honest-student tests still run, weakly isolated;
            # the attack tests are skipped there
            futures = {name: pool.submit(grade, path, tmp / "reports" / f"{name}.json", allow_weak=not ISOLATED, **kw)
                       for name, (path, kw) in jobs.items()}
            reports |= {name: fut.result() for name, fut in futures.items()}
        server.settimeout(0.5)
        try:
            server.accept()
            reports["server was reached"] = True
        except socket.timeout:
            reports["server was reached"] = False
    finally:
        server.close()
    reports["tmp"] = tmp
    return reports


# ----------------------------------------------------------------------------- honest students


@pytest.mark.parametrize("src", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_the_solution_notebooks_score_full_marks(src: Path, graded: dict) -> None:
    report = graded[f"solution {src.stem}"]
    assert report["score"] == report["total"] == len(exercises(read_notebook(src))), format_report(report)
    assert report["assignment"] == src.stem and report["flags"] == [] if ISOLATED else True
    assert all(q["status"] == "answered" for q in report["questions"])
    assert json.loads(Path(report["json"]).read_text()) == report  # the JSON report says the same


@pytest.mark.parametrize("src", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_untouched_student_versions_score_zero_without_crashing(src: Path, graded: dict) -> None:
    report = graded[f"student {src.stem}"]
    assert report["score"] == 0 and report["total"] == len(exercises(read_notebook(src)))
    for e in report["exercises"]:
        assert e["status"] == NOT_ATTEMPTED and e["hint"], e  # the stub's hint is reported
    assert [q["status"] for q in report["questions"]] == [NOT_ATTEMPTED] * len(report["questions"])


def test_a_partly_solved_notebook_scores_exactly_the_solved_exercise(graded: dict) -> None:
    report = graded["partly solved"]  # ada_02.ipynb: the assignment comes from the 02 in the name
    statuses = _statuses(report)
    assert report["assignment"] == NB02.stem and report["score"] == 1 and report["total"] == 4
    assert statuses.pop("kl_std_normal") == PASSED and set(statuses.values()) == {NOT_ATTEMPTED}
    assert "score: 1 / 4 exercises" in format_report(report)


def test_the_solution_notebook_not_the_submission_decides_what_counts(graded: dict) -> None:
    report = graded["metadata decides"]  # its metadata claims a one-exercise assignment
    assert report["total"] == 4 and report["score"] == 1 and report["percent"] == 25.0
    assert _statuses(report)["elbo"] == NOT_ATTEMPTED


@pytest.mark.parametrize("number", sorted(MISTAKES))
def test_typical_mistakes_fail_with_a_hint(number: str, graded: dict) -> None:
    report = graded[f"mistakes {number}"]
    assert report["score"] == 0 and set(_statuses(report).values()) == {FAILED}, _hints(report)
    for ex, hint in _hints(report).items():
        assert MISTAKE_HINTS[ex] in hint, (ex, hint)


def _defined(source: str) -> tuple[str, object]:
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102  (the test's own cells)
    name = next(n for n in defined_names(source) if n in CHECKS)
    return name, namespace[name]


#: every grading draws a fresh seed, so a verdict must not depend on it: the same hint for a mistake
#: and a pass for a solution, whatever the inputs. Seeds here are cheap (in-process, no sandbox).
SEEDS = range(150)


@pytest.mark.parametrize("cell", [c for cells in MISTAKES.values() for c in cells], ids=lambda c: _defined(c)[0])
def test_a_typical_mistake_gets_its_hint_under_every_seed(cell: str) -> None:
    exercise, obj = _defined(cell)
    for seed in SEEDS:
        with pytest.raises(CheckFailed) as failed:
            check_exercise(exercise, obj, seed=seed)
        assert MISTAKE_HINTS[exercise] in str(failed.value), (seed, str(failed.value))


@pytest.mark.parametrize(("cell", "hint"), MORE_MISTAKES,
                         ids=[c.splitlines()[-1].strip()[len("return "):][:40] for c, _ in MORE_MISTAKES])
def test_more_typical_mistakes_get_their_hints_under_every_seed(cell: str, hint: str) -> None:
    exercise, obj = _defined(cell)
    for seed in SEEDS:
        with pytest.raises(CheckFailed) as failed:
            check_exercise(exercise, obj, seed=seed)
        assert hint in str(failed.value), (seed, str(failed.value))


@pytest.mark.parametrize("cell", RIGHT_TOO, ids=lambda c: _defined(c)[0])
def test_other_right_answers_pass_under_every_seed(cell: str) -> None:
    exercise, obj = _defined(cell)
    for seed in SEEDS:
        check_exercise(exercise, obj, seed=seed)


@pytest.mark.parametrize("exercise", sorted(CHECKS))
def test_the_solution_passes_under_every_seed(exercise: str) -> None:
    source = next(e.source for p in WITH_EXERCISES for e in exercises(read_notebook(p)) if e.id == exercise)
    name, obj = _defined(source)
    assert name == exercise
    for seed in SEEDS if exercise != "ConvDecoder" else SEEDS[:8]:  # it trains a few steps per seed
        check_exercise(exercise, obj, seed=seed)


# ----------------------------------------------------------------------------- attacks


@needs_isolation
def test_no_reference_is_reachable_from_the_student_process(graded: dict) -> None:
    report = graded["reaching"]
    hints = _hints(report)
    assert report["score"] == 0, hints
    assert "has no attribute 'reparameterize'" in hints["reparameterize"]
    assert "No such file" in hints["kl_std_normal"] and "No such file" in hints["elbo"]  # no repo, no notebooks
    assert "IndexError" in hints["iwae_bound"]  # gc finds no reference either
    assert any(f.startswith("suspicious: ") for f in report["flags"])


def test_the_student_library_holds_only_what_the_solution_imports() -> None:
    """From vaelib, and from vaecourse (the course beside it) alike: the names imported, the helpers
    they use, no imports of either package, never a graded exercise's reference."""
    lib = student_library(["import torch\nfrom vaelib.losses import ELBOTerms\n"], set(CHECKS))
    assert sorted(lib) == ["vaelib/__init__.py", "vaelib/losses.py"]
    assert "class ELBOTerms" in lib["vaelib/losses.py"] and "def kl_std_normal" not in lib["vaelib/losses.py"]
    lib = student_library(["from vaecourse.check_helpers import _close\n"], set(CHECKS))
    assert sorted(lib) == ["vaecourse/__init__.py", "vaecourse/check_helpers.py", "vaelib/__init__.py"]
    assert "def _close" in lib["vaecourse/check_helpers.py"] and "def _tensor" not in lib["vaecourse/check_helpers.py"]
    for src in lib.values():
        assert "import vae" not in src and "from vae" not in src
    with pytest.raises(GradingError, match="a graded exercise"):
        student_library(["from vaecourse.checks_chapters import iwae_loss\n"], set(CHECKS))


@needs_isolation
def test_values_that_lie_and_replaced_probes_do_not_pass(graded: dict) -> None:
    report = graded["lying"]
    assert report["score"] == 0, _hints(report)
    assert _statuses(report)["iwae_bound"] == NOT_ATTEMPTED  # untouched by the attack: not defined


@needs_isolation
def test_forged_results_and_a_hard_exit_score_nothing(graded: dict) -> None:
    report = graded["forging"]
    assert report["score"] == 0 and set(_statuses(report).values()) == {FAILED}, _hints(report)


@needs_isolation
def test_the_sandbox_keeps_files_shells_and_the_network_in(graded: dict) -> None:
    report = graded["escaping"]
    tmp = graded["tmp"]
    assert sorted(p.name for p in tmp.iterdir() if p.name.startswith("escaped")) == []
    assert not graded["server was reached"]
    hints = _hints(report)
    assert "Network is unreachable" in hints["reparameterize"] or "OSError" in hints["reparameterize"], hints
    uid = int(hints["kl_std_normal"].split("uid=")[1].split()[0])
    assert (uid != 0 if os.geteuid() == 0 else True) and "pid=1 " in hints["kl_std_normal"]
    assert "repo=False notebooks=False" in hints["kl_std_normal"]
    assert report["isolation"]["level"] == "namespaces" and report["network"] == "disabled"


@needs_isolation
def test_children_die_with_the_student_process(graded: dict) -> None:
    report = graded["lingering"]
    assert _statuses(report)["kl_std_normal"] == PASSED, _hints(report)
    assert "time limit" not in json.dumps(report)
    left = subprocess.run(["pgrep", "-f", "sleep 617"], capture_output=True, text=True).stdout.split()
    assert left == []


@needs_isolation
def test_memory_processes_and_file_size_are_limited(graded: dict) -> None:
    hints = _hints(graded["bombs"])
    assert "MemoryError" in hints["reparameterize"], hints
    if os.geteuid() == 0:  # RLIMIT_NPROC needs a user id of the sandbox's own
        assert "fork stopped after" in hints["kl_std_normal"], hints
    assert "File too large" in hints["elbo"], hints
    assert "No space left on device" in hints["iwae_bound"], hints  # the work folder holds 256 MiB


@needs_isolation
def test_a_student_process_that_never_ends_is_killed_at_the_time_limit(graded: dict) -> None:
    report = graded["looping"]
    assert report["score"] == 0 and "no results" in report["flags"]
    assert all("time limit (10 s) ran out" in h for h in _hints(report).values())


@pytest.mark.parametrize("name", ["list", "null", "truncated", "no cells", "cell is a string", "no source",
                                  "string tags", "deep", "surrogate"])
def test_a_malformed_submission_gets_a_report_not_a_traceback(name: str, graded: dict) -> None:
    report = graded[f"malformed {name}"]
    assert report["score"] == (1 if name == "string tags" else 0) and report["total"] == 4
    text = Path(report["json"]).read_text(encoding="utf-8")
    assert json.loads(text)["notebook"] == report["notebook"]  # a complete JSON report replaced the old one
    format_report(report).encode("utf-8")  # printable
    if name in ("list", "null", "truncated", "no cells", "cell is a string"):
        assert "malformed" in report["flags"]
        assert len({e["hint"] for e in report["exercises"]}) == 1 and "\n" not in report["exercises"][0]["hint"]
    if name == "string tags":  # read leniently: a tag given as a string still counts
        assert _statuses(report)["kl_std_normal"] == PASSED
    if name == "surrogate":
        assert "surrogate" in _hints(report)["kl_std_normal"] and report["questions"][0]["status"] == "answered"


# ----------------------------------------------------------------------------- a class


def test_a_class_folder_is_graded_into_reports_and_a_table(tmp_path: Path, capsys) -> None:
    student = tmp_path / "student"
    write_student_versions(student, [NB02])
    subs = tmp_path / "submissions"
    subs.mkdir()
    (subs / "ada").mkdir()
    nbformat.write(nbformat.read(NB02.with_suffix(".ipynb"), as_version=4), subs / "ada" / "02_reparameterization.ipynb")
    untouched = nbformat.read(student / f"{NB02.stem}.ipynb", as_version=4)
    nbformat.write(untouched, subs / "cy.ipynb")
    for cell in untouched.cells:
        if EXERCISE_TAG in cell.metadata.get("tags", []) and "def kl_std_normal(" in cell.source:
            cell.source = KL_RIGHT
    nbformat.write(untouched, subs / "bo.ipynb")
    (subs / "dee.ipynb").write_text("{broken")
    _nb(subs / "eve.ipynb", "import gc\nkl_std_normal = [o for o in gc.get_objects() if getattr(o, '__name__', '') == "
                           "'kl_std_normal'][0]\n")
    out = tmp_path / "grades"
    args = ["grade", str(subs), "--assignment", "02", "--out", str(out), "--jobs", "2"]
    args += [] if ISOLATED else ["--allow-weak-isolation"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    rows = {r["student"]: r for r in csv.DictReader((out / "class.csv").open())}
    assert set(rows) == {"ada", "bo", "cy", "dee", "eve"}
    assert [rows[s]["score"] for s in ("ada", "bo", "cy", "dee", "eve")] == ["4", "1", "0", "0", "0"]
    assert rows["bo"]["ex:kl_std_normal"] == "1" and rows["bo"]["ex:elbo"] == "0" and rows["bo"]["total"] == "4"
    assert "malformed" in rows["dee"]["flags"] and "suspicious" in rows["eve"]["flags"]
    assert (out / "ada" / f"{NB02.stem}.json").is_file() and (out / "dee" / f"{NB02.stem}.json").is_file()
    assert "5 submissions: 5 graded, 0 skipped" in printed and "1 malformed" in printed
    assert main(args) == 0  # again: nothing changed, nothing graded
    assert "0 graded, 5 skipped" in capsys.readouterr().out
    nbformat.write(nbformat.read(NB02.with_suffix(".ipynb"), as_version=4), subs / "cy.ipynb")  # cy hands in again
    assert main(args) == 0
    assert "1 graded, 4 skipped" in capsys.readouterr().out
    assert {r["student"]: r["score"] for r in csv.DictReader((out / "class.csv").open())}["cy"] == "4"


def test_the_grader_refuses_weak_isolation_unless_told(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sandbox, "_namespaces_work", lambda: "no namespaces (simulated)")
    path = _nb(tmp_path / "02_x.ipynb", KL_RIGHT)
    with pytest.raises(GradingError, match="allow-weak-isolation"):
        grade(path, tmp_path / "r.json")
    assert main(["grade", str(path)]) == 2 and "no OS isolation" in capsys.readouterr().err
    report = grade(path, tmp_path / "r.json", allow_weak=True)
    assert report["isolation"]["level"] == "weak" and "isolation: weak" in report["flags"]
    assert _statuses(report)["kl_std_normal"] == PASSED


def test_bad_arguments_give_one_line_and_status_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "02_broken.ipynb").write_text("{not json")
    for args, needle in [
        (["grade", str(tmp_path / "nope.ipynb")], "no notebook at"),
        (["grade", str(tmp_path / "notes.txt")], "cannot tell the assignment"),
        (["grade", str(tmp_path / "02_broken.ipynb"), "--assignment", "99"], "no assignment '99'"),
        (["grade", str(tmp_path / "02_broken.ipynb"), "--json", str(tmp_path / "no" / "r.json")], "existing folder"),
        (["grade", str(tmp_path / "02_broken.ipynb"), "--json", str(tmp_path)], "cannot write the JSON report"),
        (["grade", str(tmp_path / "empty")], "no notebook at"),
    ]:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("vaecourse: error:") and needle in err, err


def test_links_and_special_files_in_a_class_are_refused_never_followed(tmp_path: Path, capsys) -> None:
    """A submission that links to the solution, a student folder that links to another's, a link
    to a special file and a FIFO each get a row that says why, score 0, and the class goes on; none
    is opened (a FIFO would block the grader, /proc/self/mem would abort it)."""
    student = tmp_path / "student"
    write_student_versions(student, [NB02])
    subs = tmp_path / "submissions"
    (subs / "ada").mkdir(parents=True)
    nbformat.write(nbformat.read(student / f"{NB02.stem}.ipynb", as_version=4), subs / "ada" / f"{NB02.stem}.ipynb")
    os.symlink(NB02.with_suffix(".ipynb").resolve(), subs / "bo.ipynb")  # the instructor's solution
    os.symlink(subs / "ada", subs / "cy")  # another student's folder
    os.symlink("/proc/self/mem", subs / "dee.ipynb")
    os.mkfifo(subs / "eve.ipynb")
    out = tmp_path / "grades"
    args = ["grade", str(subs), "--assignment", "02", "--out", str(out)]
    args += [] if ISOLATED else ["--allow-weak-isolation"]
    assert main(args) == 0
    rows = {r["student"]: r for r in csv.DictReader((out / "class.csv").open())}
    assert set(rows) == {"ada", "bo", "cy", "dee", "eve"}
    for name in ("bo", "cy", "dee"):
        assert rows[name]["score"] == "0" and "refused: a symbolic link" in rows[name]["flags"], rows[name]
    assert rows["eve"]["score"] == "0" and "refused: not a regular file" in rows["eve"]["flags"]
    assert rows["ada"]["flags"] == "" and rows["ada"]["total"] == "4"
    with pytest.raises(Exception, match="symbolic link"):  # the grader's own reader never follows one either
        from vaecourse.submission import read_submission
        read_submission(subs / "bo.ipynb")


def test_report_names_never_collide_and_student_text_is_neutralised(tmp_path: Path, capsys) -> None:
    """o'brien and o_brien would share a report, ada.ipynb and ada/02_....ipynb too, and a student
    named class.csv would take the table's name: the later ones are refused, saying why. A name that
    a spreadsheet reads as a formula is quoted in class.csv, and terminal escapes are shown, not obeyed."""
    student = tmp_path / "student"
    write_student_versions(student, [NB02])
    blank = nbformat.read(student / f"{NB02.stem}.ipynb", as_version=4)
    subs = tmp_path / "submissions"
    (subs / "ada").mkdir(parents=True)
    for name in ("o'brien.ipynb", "o_brien.ipynb", "ada.ipynb", f"ada/{NB02.stem}.ipynb", "class.csv.ipynb",
                 "=HYPERLINK(1).ipynb", "\x1b[2Jzed.ipynb"):
        nbformat.write(blank, subs / name)
    out = tmp_path / "grades"
    args = ["grade", str(subs), "--assignment", "02", "--out", str(out), "--jobs", "2"]
    args += [] if ISOLATED else ["--allow-weak-isolation"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    with (out / "class.csv").open() as f:
        rows = list(csv.DictReader(f))
    flags = {r["student"]: r["flags"] for r in rows}
    assert "would overwrite o'brien.ipynb's" in flags["o_brien"] and flags["o'brien"] == ""
    assert [r["flags"] for r in rows if r["student"] == "ada"] == [
        "", "refused: its report (ada/02_reparameterization.json) would overwrite ada/02_reparameterization.ipynb's; "
            "rename it"]
    assert "may not be named like the class's own files" in flags["class.csv"]
    assert "'=HYPERLINK(1)" in flags and (out / "summary.json").is_file()
    assert "\x1b" not in printed and "\\x1b[2Jzed" in printed
    for report in out.rglob("*.json"):
        json.loads(report.read_text(), parse_constant=lambda c: pytest.fail(f"{report} holds {c}"))


def test_a_table_of_answers_to_fixed_inputs_fails_under_the_fresh_seed_of_each_grading(tmp_path: Path) -> None:
    """The answers on the inputs of one seed (the public default's) pass only when that seed is
    used again: each grading draws its own, records it, and SEED= reproduces a grading."""
    import torch

    from vaecourse.checks import CHECKS, DEFAULT_SEED, check_seed

    _, ref = CHECKS["kl_std_normal"].prepare(torch.Generator().manual_seed(check_seed("kl_std_normal", DEFAULT_SEED)))
    table = ("import torch\ndef kl_std_normal(mu, logvar):  # a table, not a formula\n"
             f"    return torch.tensor({ref.tolist()!r}) if mu.shape[0] == {len(ref)} else torch.zeros(mu.shape[0])\n")
    path = _nb(tmp_path / "02_table.ipynb", table)
    weak = not ISOLATED
    assert _statuses(grade(path, tmp_path / "fixed.json", seed=DEFAULT_SEED, allow_weak=weak))["kl_std_normal"] == PASSED
    first = grade(path, tmp_path / "a.json", allow_weak=weak)
    second = grade(path, tmp_path / "b.json", allow_weak=weak)
    assert _statuses(first)["kl_std_normal"] == FAILED and first["seed"] != second["seed"] != DEFAULT_SEED
    again = grade(path, tmp_path / "c.json", seed=first["seed"], allow_weak=weak)
    assert [e["hint"] for e in again["exercises"]] == [e["hint"] for e in first["exercises"]]


@pytest.mark.skipif(not ISOLATED, reason=f"no OS isolation here: {WHY_NOT_ISOLATED}")
def test_an_environment_that_is_a_symbolic_link_still_starts_the_sandbox(tmp_path: Path, monkeypatch) -> None:
    """A .venv that is a link (or moved behind one): the jail binds it as named and where it is."""
    link = tmp_path / "venv-link"
    os.symlink(Path(sys.prefix).resolve(), link)
    monkeypatch.setattr(sys, "prefix", str(link))
    monkeypatch.setattr(sys, "executable", str(link / "bin" / Path(sys.executable).name))
    report = grade(_nb(tmp_path / "02_x.ipynb", KL_RIGHT), tmp_path / "r.json")
    assert _statuses(report)["kl_std_normal"] == PASSED, report["flags"]
