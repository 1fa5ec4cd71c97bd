"""What every check shares: the `Check` record, `CheckFailed`, and the comparisons its judges use.

A judge (see `vaecourse.checks`) turns a wrong answer into a hint: `_tensor` insists on a
tensor of the right shape (hinting at a sum or an average over the wrong dimension), `_close`
compares it with the reference, `_max_diff` says by how much it is off, `_shape` names what came
back. The underscored helpers are for the check modules of this package only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

__all__ = ["Check", "CheckFailed"]


class CheckFailed(AssertionError):
    """The student's implementation is wrong; the message is the hint shown in the report."""


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    kind: str  # "function" or "class"
    prepare: Callable[[torch.Generator], tuple[dict, Any]]
    judge: Callable[[Any, dict, Any], None]


def _shape(t: Any) -> str:
    if isinstance(t, torch.Tensor):
        return f"[{', '.join(str(s) for s in t.shape)}]"
    if isinstance(t, dict) and "type" in t:
        return str(t["type"])
    return type(t).__name__


def _tensor(out: Any, what: str, shape: tuple[int, ...], names: str) -> torch.Tensor:
    """out as a float64 tensor when it is a tensor of the given shape; else CheckFailed with a hint."""
    if isinstance(out, dict) and "error" in out:
        raise CheckFailed(f"{what} raised {out['error']}")
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{what} must return a torch.Tensor of shape {names}, got a {_shape(out)}")
    if tuple(out.shape) != tuple(shape):
        extra = ""
        if out.dim() == 0:
            extra = ": one value per example, do not sum or average over the batch"
        elif out.dim() > len(shape):
            extra = ": sum over every dimension but the batch"
        raise CheckFailed(f"{what}: shape {names} = {list(shape)} expected, got {_shape(out)}{extra}")
    return out.double()


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-3) -> bool:
    return bool(torch.isfinite(a).all()) and torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> str:
    return f"{(a.double() - b.double()).abs().max().item():.4g}"

