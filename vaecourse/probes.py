"""The student side of the autograder: call the student's code on the grader's inputs, return data.

This file is copied into the grader's isolated student process (see `vaecourse.sandbox`) and runs there with
nothing of vaelib around it: it imports only the standard library and torch. It never judges anything. For each
exercise a *probe* calls the student's function or class on the inputs the grader drew (`vaecourse.checks`),
exactly as a check would, and returns what came back as plain data (tensors, numbers, strings, lists, dicts); the
grader's own process loads that data with `torch.load(weights_only=True)` (no code, no behaviour, no tensor
subclasses) and decides.

A student who rewrites a probe from inside the process can only change the data it returns; to pass a value check
that data must still be the right answer on inputs drawn for this grading (which is solving the exercise). The class
exercise (`ConvDecoder`) is checked on the outputs and losses its module produced in the student process; a student
who forges those could fake a pass, which is why the grader also flags cells that reach for the grader's internals
(see `checks.suspicious_lines`).

    python -I -B probes.py PAYLOAD_DIR      # what the sandbox runs (the trusted preamble below)
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import math
import os
import sys
import time
from typing import Any, Callable

__all__ = ["PREAMBLE", "STUDENT_MODULE", "PROBES", "ProbeError", "ToyLinearGaussian", "TimeLimit", "export", "call",
           "describe", "defined_names", "without_magics", "set_limits", "main", "adam_step",
           "probe_reparameterize", "probe_kl_std_normal", "probe_bernoulli_log_prob", "probe_gaussian_log_prob",
           "probe_elbo", "probe_iwae_bound", "probe_ConvDecoder", "probe_active_units",
           "probe_roc_auc", "probe_traverse", "probe_mmd_unbiased",
           "probe_free_bits_kl", "probe_warmup_beta", "probe_m2_unlabelled_loss", "probe_iwae_loss"]

PREAMBLE = "import math\nimport numpy as np\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
STUDENT_MODULE = "student_notebook"  # __name__ of the namespace the exercise cells run in
LOG_2PI = math.log(2 * math.pi)


class ProbeError(Exception):
    """The student's code returned something the probe cannot pass on (the message says what)."""


# ----------------------------------------------------------------------------- plain data


def export(x: Any, depth: int = 0) -> Any:
    """x as plain data: a tensor becomes a detached plain torch.Tensor copy; anything else that is
    not a number, string, bool or None becomes its type name (the grader then reports it)."""
    import torch

    if depth > 4:
        return "<too deep>"
    if isinstance(x, torch.Tensor):
        t = torch.Tensor._make_subclass(torch.Tensor, x.detach()) if type(x) is not torch.Tensor else x.detach()
        return t.clone().contiguous()
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, (int, float)):
        return float(x) if isinstance(x, float) else int(x)
    if isinstance(x, (list, tuple)):
        return [export(v, depth + 1) for v in list(x)[:64]]
    return {"type": type(x).__name__}


def call(f: Callable, *args) -> Any:
    """f(*args) exported; an exception other than NotImplementedError becomes {"error": "..."}."""
    try:
        return export(f(*args))
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001  (student code may raise anything)
        return {"error": describe(e)}


def describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300]}" if text else type(e).__name__


# ----------------------------------------------------------------------------- the probes


def probe_reparameterize(f, p: dict) -> dict:
    import torch

    mu0, logvar0, n = p["mu"], p["logvar"], int(p["n"])
    d = len(mu0)
    small_mu, small_lv = mu0[:3].repeat(4, 1), logvar0[:3].repeat(4, 1)
    out = {"first": call(f, small_mu.clone(), small_lv.clone()), "again": call(f, small_mu.clone(), small_lv.clone()),
           "many": call(f, mu0.expand(n, d).clone(), logvar0.expand(n, d).clone())}
    mu = mu0[:3].repeat(5, 1).requires_grad_()
    logvar = logvar0[:3].repeat(5, 1).requires_grad_()
    try:
        z = f(mu, logvar)
        out["z"] = export(z)
        out["requires_grad"] = bool(isinstance(z, torch.Tensor) and z.requires_grad)
        if out["requires_grad"]:
            z.sum().backward()
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001
        out["error"] = describe(e)
    out["mu_grad"], out["logvar_grad"] = export(mu.grad), export(logvar.grad)
    return out


def probe_kl_std_normal(f, p: dict) -> dict:
    import torch

    d = p["mu"].shape[1]
    return {"out": call(f, p["mu"].clone(), p["logvar"].clone()), "zero": call(f, torch.zeros(2, d), torch.zeros(2, d))}


def probe_bernoulli_log_prob(f, p: dict) -> dict:
    return {case: call(f, x.clone(), logits.clone()) for case, (x, logits) in p["cases"].items()}


def probe_gaussian_log_prob(f, p: dict) -> dict:
    out = {}
    for case, (x, mean, log_sigma) in p["cases"].items():
        arg = float(log_sigma) if case in p["as_float"] else log_sigma.clone()
        out[case] = call(f, x.clone(), mean.clone(), arg)
    return out


def probe_elbo(f, p: dict) -> dict:
    out = {}
    for beta in p["betas"]:
        try:
            terms = f(p["log_px"].clone(), p["kl"].clone(), float(beta))
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001
            out[str(beta)] = {"error": describe(e)}
            continue
        fields = {a: export(getattr(terms, a)) for a in ("elbo", "loss", "reconstruction", "kl") if hasattr(terms, a)}
        out[str(beta)] = {"type": type(terms).__name__, "fields": fields}
    return out


class ToyLinearGaussian:
    """z ~ N(0, I_d), x | z ~ N(W z + b, s² I): log p(x) = log N(x; b, W Wᵀ + s² I) exactly.

    The encoder is a deliberately poor diagonal Gaussian (so the bound has room to rise with k),
    or, with `exact=True` and orthogonal columns of W, the true posterior: then every importance
    weight equals p(x), and L_k = log p(x) for every k and every draw. Works on any leading batch
    dimensions ([N, n] or [k, B, n]). Built from tensors (`state`), so the grader can send it.
    """

    def __init__(self, state: dict) -> None:
        self.W, self.b, self.A, self.scales = state["W"], state["b"], state["A"], state["scales"]
        self.s, self.exact = float(state["s"]), bool(state["exact"])

    @staticmethod
    def draw(g, d: int = 3, n: int = 5, s: float = 0.6, exact: bool = False) -> dict:
        """The state of a random model, drawn from the generator g."""
        import torch

        q, _ = torch.linalg.qr(torch.randn(n, d, generator=g))
        scales = 0.5 + torch.rand(d, generator=g) * 1.5
        return {"W": q * scales, "b": torch.randn(n, generator=g), "A": 0.3 * torch.randn(d, n, generator=g),
                "scales": scales, "s": s, "exact": exact}  # orthogonal columns: WᵀW = diag(scales²)

    def encode(self, x):
        import torch

        d = self.W.shape[1]
        if self.exact:  # posterior of a linear Gaussian: Σ = (I + WᵀW/s²)⁻¹, mean Σ Wᵀ (x - b) / s²
            var = 1.0 / (1.0 + self.scales.pow(2) / self.s**2)
            mu = (x - self.b) @ self.W / self.s**2 * var
            return mu, var.log().expand(*x.shape[:-1], d).clone()
        return x @ self.A.T, torch.full((*x.shape[:-1], d), math.log(0.7))

    def decode(self, z):
        return z @ self.W.T + self.b

    def log_likelihood(self, x, params):
        return (-0.5 * ((x - params) / self.s).pow(2) - math.log(self.s) - 0.5 * LOG_2PI).sum(-1)

    def log_prior(self, z):
        return (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(-1)

    def log_marginal(self, x):
        """log N(x; b, W Wᵀ + s² I), by hand (torch.distributions would import sympy)."""
        import torch

        n = self.W.shape[0]
        chol = torch.linalg.cholesky((self.W @ self.W.T + self.s**2 * torch.eye(n)).double())
        r = torch.linalg.solve_triangular(chol, (x - self.b).double().T, upper=False)  # [n, B]
        log_det = 2 * torch.log(torch.diagonal(chol)).sum()
        return (-0.5 * (n * LOG_2PI + log_det + r.pow(2).sum(0))).to(x.dtype)


def probe_iwae_bound(f, p: dict) -> dict:
    import torch

    exact, poor, x = ToyLinearGaussian(p["exact"]), ToyLinearGaussian(p["poor"]), p["x"]
    with torch.no_grad():
        out = {f"exact k={k}": call(f, exact, x.clone(), k) for k in (1, 7)}
        for k in p["ks"]:
            out[f"poor k={k}"] = [call(f, poor, x.clone(), int(k)) for _ in range(int(p["reps"]))]
    return out


def adam_step(params: list, state: dict, step: int, lr: float = 3e-3) -> None:
    """One Adam update (β = 0.9, 0.999), by hand: torch.optim imports torch._dynamo and sympy,
    seconds of start-up in the student process."""
    import torch

    with torch.no_grad():
        for i, q in enumerate(params):
            if q.grad is None:
                continue
            m, v = state.setdefault(i, (torch.zeros_like(q), torch.zeros_like(q)))
            m.mul_(0.9).add_(q.grad, alpha=0.1)
            v.mul_(0.999).addcmul_(q.grad, q.grad, value=0.001)
            q.sub_(lr * (m / (1 - 0.9**step)) / ((v / (1 - 0.999**step)).sqrt() + 1e-8))


def probe_ConvDecoder(cls, p: dict) -> dict:  # noqa: N802  (named after the exercise)
    import torch
    from torch import nn

    torch.manual_seed(int(p["seed"]))
    latent, z, target = int(p["latent"]), p["z"], p["target"]
    dec = cls(latent)
    out: dict = {"is_module": isinstance(dec, nn.Module), "type": type(dec).__name__}
    if not out["is_module"]:
        return out
    convs = [m for m in dec.modules() if isinstance(m, nn.ConvTranspose2d)]
    out["has_conv_transpose"] = bool(convs)
    sizes: list = []  # (height, width) into and out of each transposed convolution, in one forward pass
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append([*i[0].shape[-2:], *o.shape[-2:]])) for m in convs]
    with torch.no_grad():
        call(dec, z[:2])
    for h in hooks:
        h.remove()
    out["upsampling"] = [[int(v) for v in s] for s in sizes]
    dec.train()
    out["shapes"] = {str(n): call(dec, z[:n]) for n in (2, 6)}
    dec.eval()
    with torch.no_grad():
        out["at z"], out["at -3z"] = call(dec, z[:2]), call(dec, -3.0 * z[:2])
    dec.train()
    params = [q for q in dec.parameters() if q.requires_grad]
    out["n_params"] = len(params)
    logits, state = [], {}
    out["conv_grad_missing"] = out["grads_not_finite"] = False
    for step in range(1, 26):
        for q in params:
            q.grad = None
        y = dec(z)
        loss = nn.functional.binary_cross_entropy_with_logits(y, target, reduction="sum") / len(z)
        loss.backward()
        logits.append(export(y)) if step in (1, 25) else None
        if any(m.weight.grad is None for m in dec.modules() if isinstance(m, nn.ConvTranspose2d)):
            out["conv_grad_missing"] = True
            break
        if not all(torch.isfinite(q.grad).all() for q in params if q.grad is not None):
            out["grads_not_finite"] = True
            break
        adam_step(params, state, step)
    out["logits"] = logits  # first and last training step: the grader computes the losses itself
    return out


def probe_active_units(f, p: dict) -> dict:
    return {case: call(f, c["means"].clone(), *c["args"]) for case, c in p["cases"].items()}


def probe_roc_auc(f, p: dict) -> dict:
    return {"out": call(f, p["normal"].clone(), p["anomalous"].clone())}


def probe_traverse(f, p: dict) -> dict:
    z0 = p["z0"].clone()
    out = call(f, z0, int(p["dim"]), p["values"].clone())
    return {"out": out, "z0 after": export(z0)}


def probe_mmd_unbiased(f, p: dict) -> dict:
    return {"out": call(f, p["q"].clone(), p["p"].clone(), tuple(float(s) for s in p["scales"]))}


def _value_and_grad(f, x, *args) -> dict:
    """f(x, *args) and the gradient of its sum with respect to x (None when it has none)."""
    x = x.clone().requires_grad_(True)
    try:
        value = f(x, *args)
        if getattr(value, "requires_grad", False):
            value.sum().backward()
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001  (student code may raise anything)
        return {"value": {"error": describe(e)}}
    return {"value": export(value), "grad": export(x.grad)}


def probe_free_bits_kl(f, p: dict) -> dict:
    return _value_and_grad(f, p["kl_terms"], float(p["lam"]))


def probe_warmup_beta(f, p: dict) -> dict:
    return {"values": [call(f, int(s), int(w), float(b)) for s, w, b in p["cases"]]}


def probe_m2_unlabelled_loss(f, p: dict) -> dict:
    return {"value": call(f, p["log_q_y"].clone(), p["bounds"].clone())}


def probe_iwae_loss(f, p: dict) -> dict:
    return _value_and_grad(f, p["log_w"])


PROBES: dict[str, Callable[[Any, dict], dict]] = {
    name[len("probe_"):]: fn for name, fn in list(globals().items()) if name.startswith("probe_")
}


# ----------------------------------------------------------------------------- the student process


def defined_names(source: str) -> list[str]:
    """Top-level functions and classes a cell defines, in order ([] when it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def without_magics(source: str) -> str:
    """IPython lines (%magic, !shell) commented out, so plain Python can run the cell."""
    return "\n".join(("# " + line) if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


class TimeLimit:
    """SIGALRM-based time limit for one cell or probe (POSIX)."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds, self.what = seconds, what

    def _expire(self, signum, frame):
        raise TimeoutError(f"{self.what} took longer than {self.seconds:.0f} s")

    def __enter__(self):
        import signal

        self._old = signal.signal(signal.SIGALRM, self._expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        import signal

        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._old)
        return False


def set_limits(limits: dict) -> None:
    """Hard resource limits for this process and its children (they cannot be raised again)."""
    import resource

    for name, value in limits.items():
        which = getattr(resource, name)
        resource.setrlimit(which, (int(value), int(value)))


def main(payload_dir: str) -> None:
    """Run the exercise cells, probe each expected exercise, save the data to results.pt."""
    payload = json.loads(open(os.path.join(payload_dir, "payload.json"), encoding="utf-8").read())
    set_limits(payload.get("limits", {}))
    os.chdir(os.environ.get("HOME") or payload_dir)
    sys.path.insert(0, payload["lib"])  # the assignment's helpers, as `vaelib` (no references)
    import builtins

    import torch

    torch.set_num_threads(1)
    inputs = torch.load(os.path.join(payload_dir, "inputs.pt"), weights_only=True)
    limit = float(payload["check_timeout"])
    results_path = payload["results"]
    ns: dict = {"__name__": STUDENT_MODULE, "__builtins__": builtins}
    exec(PREAMBLE, ns)
    cell_error: dict[str, str] = {}  # exercise id -> why its cell did not run to the end
    captured = io.StringIO()  # the student's prints stay out of the grader's output
    for i, source in enumerate(payload["cells"]):
        names = defined_names(source)
        try:
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured), \
                    TimeLimit(limit, f"exercise cell {i + 1}"):
                exec(compile(without_magics(source), f"<exercise cell {i + 1}>", "exec"), ns)
        except BaseException as e:  # noqa: BLE001  (a student cell may raise anything, even SystemExit)
            for name in names:
                cell_error.setdefault(name, describe(e))
    results: dict = {}
    for ex in payload["exercises"]:
        obj, t0 = ns.get(ex), time.perf_counter()
        if obj is None:
            results[ex] = {"status": "cell error", "why": cell_error[ex]} if ex in cell_error else {"status": "missing"}
            continue
        r: dict = {"module": str(getattr(obj, "__module__", None)), "is_class": isinstance(obj, type),
                   "callable": callable(obj)}
        if r["module"] == STUDENT_MODULE and r["callable"] and ex in PROBES:
            try:
                torch.manual_seed(int(payload["seeds"][ex]))
                with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured), \
                        TimeLimit(limit, f"checking {ex}"):
                    r["outputs"], r["status"] = PROBES[ex](obj, inputs[ex]), "ran"
            except NotImplementedError as e:
                r["status"], r["why"] = "not implemented", str(e)[:300]
            except BaseException as e:  # noqa: BLE001
                r["status"], r["why"] = "raised", describe(e)
        else:
            r["status"] = "not probed"
        r["seconds"] = time.perf_counter() - t0
        results[ex] = r
    torch.save(results, results_path)  # the grader reads it once this process has ended


if __name__ == "__main__":
    main(sys.argv[1])
