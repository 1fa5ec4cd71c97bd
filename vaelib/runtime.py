"""What every part of vaelib needs and none of them is about: devices, seeding, atomic files,
configs as JSON, the event log, and where the project's folders are.

Every file is written atomically, so a reader never sees half of one. Importing this module costs
no torch (the command line reads it): torch and pandas are imported by the functions that use them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch

__all__ = ["REPO_ROOT", "NOTEBOOKS", "IMAGES", "TEST_MODE_VAR", "COMPILE_VAR", "EVENTS_VAR", "pick_device",
           "seed_everything", "maybe_compile", "is_test_mode", "series", "log_event", "atomic_path", "atomic_save",
           "atomic_write_text", "atomic_write_csv", "clean_stale_tmp", "config_from_dict", "brief"]

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO_ROOT / "notebooks"
IMAGES = REPO_ROOT / "images"
#: set to 1 by the tests: every notebook then runs in its fast test mode (vaelib.notebook.setup)
TEST_MODE_VAR = "VAE_NOTEBOOKS_TEST"


# ----------------------------------------------------------------------------- machine and mode


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else CUDA, then MPS, then CPU."""
    import torch  # noqa: PLC0415

    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed torch's CPU and CUDA generators (the only randomness vaelib uses)."""
    import torch  # noqa: PLC0415

    torch.manual_seed(seed)


COMPILE_VAR = "VAELIB_COMPILE"


def maybe_compile(model):
    """The model compiled in place (state_dict keys unchanged) when VAELIB_COMPILE is 1 (inductor) or a
    backend's name ("eager", "cudagraphs", ...); unset or 0: as it is. A graph that fails to compile
    runs eagerly: the switch can speed a run up, never stop one. A compiled run matches an eager one
    to float rounding, not bit for bit."""
    choice = os.environ.get(COMPILE_VAR, "").strip()
    if choice in ("", "0"):
        return model
    import torch._dynamo  # noqa: PLC0415

    torch._dynamo.config.suppress_errors = True
    try:
        model.compile(backend="inductor" if choice == "1" else choice, dynamic=False)
    except Exception as e:  # an unknown backend, a torch without compile: run eagerly, and say so
        warnings.warn(f"{COMPILE_VAR}={choice!r}: torch.compile is not available ({brief(e)}); training eagerly",
                      stacklevel=2)
    return model


def is_test_mode() -> bool:
    """Whether VAE_NOTEBOOKS_TEST asks for the fast test mode (1, true, yes, on)."""
    return os.environ.get(TEST_MODE_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def series(notebooks_dir: Path = NOTEBOOKS) -> list[Path]:
    """The notebook series in order: the numbered sources notebooks/[0-9]*.py (Jupytext percent)."""
    return sorted(Path(notebooks_dir).glob("[0-9]*.py"))


EVENTS_VAR = "VAELIB_EVENTS"


def log_event(event: str, **fields: Any) -> None:
    """Append `{"event": event, "time": <unix seconds>, **fields}` as one JSON line to the file that
    VAELIB_EVENTS names, if any (the notebook runner's profile reads it)."""
    path = os.environ.get(EVENTS_VAR, "").strip()
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": event, "time": time.time(), **fields}) + "\n")


# ----------------------------------------------------------------------------- atomic files


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path `<name>.<pid>.<random><suffix>` next to `path`, renamed onto it when the block
    succeeds, deleted when it fails. The pid lets `clean_stale_tmp` spare a live writer's file; an
    OSError without a file name (a full disk) gets `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.{os.getpid()}.", suffix=suffix)
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the files of a run folder are for everyone to read
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as e:
        if e.filename is None:
            e.filename = str(path)
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: never a half file."""
    import torch  # noqa: PLC0415

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_write_text(text: str, path: Path) -> None:
    """Write text to a temporary file in the same folder, then rename: never a half file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    """DataFrame.to_csv (no index) to a temporary file in the same folder, then rename."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process has no save in flight when it cleans up
    if os.name == "nt":
        return True  # no harmless check there (os.kill would end the process): keep its files
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # alive, another user's
    except OSError:  # ProcessLookupError: gone
        return False
    return True


def clean_stale_tmp(folder: str | Path, names: tuple[str, ...]) -> list[Path]:
    """Delete and return the temporary files of `names` in `folder` that a writer killed mid-save left
    (a live writer's stay)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in folder.iterdir():
        name = next((n for n in names if p.name.startswith(n)), None)
        if name is None or p.name == name or not p.name.endswith((".tmp", ".tmp.png")) or not p.is_file():
            continue
        m = re.match(r"\.(\d+)\.", p.name[len(name):])
        if m is not None and _pid_alive(int(m.group(1))):
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed


# ----------------------------------------------------------------------------- small helpers


def brief(e: BaseException) -> str:
    """`Type: first sentence` of an exception (torch's load errors run to paragraphs)."""
    text = (str(e).strip().splitlines() or [""])[0]
    text = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return f"{type(e).__name__}: {text[:160]}" if text else type(e).__name__


def config_from_dict(cls: type, d: dict[str, Any], what: str):
    """Rebuild a config dataclass from its dict (a checkpoint's, config.json's); unknown keys are an error."""
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what} config keys: {sorted(unknown)}")
    return cls(**d)
