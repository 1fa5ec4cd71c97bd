"""The student process of the autograder, isolated by the operating system.

`run(job_dir, work_dir, timeout)` starts `python -I -B probes.py` on the grader's job folder and
waits for it. With the strongest isolation this system offers (`isolation()` says which):

- **namespaces** (`unshare` from util-linux, as root or in a user namespace): its own mount, PID,
  network, IPC and UTS namespaces. The network namespace is empty (not even loopback is up); in
  its PID namespace the student process is PID 1, so every child it starts dies with it, and the
  grader's kill of `unshare` (time limit) takes the whole namespace down. Its filesystem is a
  fresh read-only root that holds only the system's /usr, /etc, /sys, the Python installation and
  the project's virtual environment (read-only), a tiny /dev, a 256 MiB /tmp, the job folder
  (read-only), a 256 MiB work folder (its HOME) and one file of the host it may write, the
  results file the grader reads. The repository, its `notebooks/`
  (the solutions) and vaelib are not in it; the job folder holds a vaelib with only the names the
  assignment's solution cells import (see `student_library`). As root it also drops to an
  unprivileged user id of its own, with no new privileges;
- **weak** (only with `allow_weak=True`): a plain child process in a temporary folder. The
  student code could read the repository and reach the network. For trusted tests only.

Resource limits hold in every case (setrlimit before any student code runs): address space,
CPU time, file size, open files, processes (per user id), no core dumps; and a wall-clock limit.
The process's output goes to a file, never a pipe, so nothing it leaves behind can hold the
grader up.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["Isolation", "LIMITS", "SandboxResult", "isolation", "run"]

GIB, MIB = 1024**3, 1024**2
#: setrlimit limits of the student process (hard and soft). RLIMIT_CPU is set from the timeout.
LIMITS = {"RLIMIT_AS": 6 * GIB, "RLIMIT_FSIZE": 64 * MIB, "RLIMIT_NOFILE": 256, "RLIMIT_CORE": 0,
          "RLIMIT_NPROC": 64}
JOB, WORK, OUT = "/grader/job", "/grader/work", "/grader/out"  # where they appear inside the namespace
RESULTS = f"{OUT}/results.pt"  # the one file of the host the student process can write

_SETUP = r"""
set -eu
R="$1"; shift
mount -t tmpfs -o size=16m,mode=755 vaelib-root "$R"
bind_ro() {  # bind_ro SOURCE: the same path inside R, read-only (a symlink is copied as a symlink)
  if [ -L "$1" ]; then mkdir -p "$R$(dirname "$1")"; ln -s "$(readlink "$1")" "$R$1"; return; fi
  [ -e "$1" ] || return 0
  if [ -d "$1" ]; then mkdir -p "$R$1"; else mkdir -p "$R$(dirname "$1")"; touch "$R$1"; fi
  mount --rbind "$1" "$R$1"
  mount -o remount,bind,ro "$R$1"
}
mkdir -p "$R/tmp"  # first: the environment may live under /tmp, and is bound into it below
mount -t tmpfs -o size=256m,mode=1777,nosuid,nodev vaelib-tmp "$R/tmp"
for p in /usr /bin /sbin /lib /lib32 /lib64 /libx32 /etc /sys $VAELIB_RO_PATHS; do bind_ro "$p"; done
mkdir -p "$R/proc" "$R/dev" "$R$JOB_MNT" "$R$WORK_MNT" "$R$OUT_MNT"
touch "$R$OUT_MNT/results.pt"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t tmpfs -o size=1m,mode=755 vaelib-dev "$R/dev"
for n in null zero full random urandom; do touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
mount --bind "$JOB_DIR" "$R$JOB_MNT"; mount -o remount,bind,ro "$R$JOB_MNT"
mount -t tmpfs -o size=256m,mode=1777,nosuid,nodev vaelib-work "$R$WORK_MNT"
mount --bind "$WORK_DIR/results.pt" "$R$OUT_MNT/results.pt"
mount -o remount,ro,bind "$R"
cd /
exec "$CHROOT" "$R" "$@"
"""


@dataclass(frozen=True)
class Isolation:
    level: str  # "namespaces" or "weak"
    detail: str  # a sentence for the report


@dataclass
class SandboxResult:
    returncode: int | None  # None: killed at the wall-clock limit
    timed_out: bool
    log: str  # the head of the process's own output (stdout and stderr)


def _ro_paths() -> list[str]:
    """The Python installation and the virtual environment, made visible read-only: each as named
    and where it really is, so an environment that is a link (or lives behind one) still starts."""
    named = (sys.base_prefix, sys.prefix, sys.executable)
    paths = {p for q in named for p in (q, os.path.realpath(q))}
    return sorted(p for p in paths if p and not any(p != q and p.startswith(q + os.sep) for q in paths))


def _namespace_command(job: Path, work: Path, root: Path, argv: list[str], as_root: bool) -> tuple[list[str], dict]:
    exe = shutil.which("unshare")
    flags = ["--mount", "--pid", "--net", "--ipc", "--uts", "--fork", "--kill-child"]
    if not as_root:
        flags = ["--user", "--map-root-user", *flags]
    (work / "results.pt").touch()
    if as_root:  # an unprivileged user id of its own (its RLIMIT_NPROC counts only its processes)
        uid = random.randint(200_000, 260_000)
        drop = ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
        os.chown(work / "results.pt", uid, uid)
    else:
        drop = ["/usr/bin/setpriv", "--no-new-privs", "--"]
    env = {"VAELIB_RO_PATHS": " ".join(_ro_paths()), "JOB_DIR": str(job), "WORK_DIR": str(work),
           "JOB_MNT": JOB, "WORK_MNT": WORK, "OUT_MNT": OUT, "PATH": "/usr/bin:/bin",
           "CHROOT": shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin") or "chroot"}
    return [exe, *flags, "/bin/sh", "-c", _SETUP, "vaelib-sandbox", str(root), *drop, *argv], env


def _student_env(home: str) -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": "/tmp" if home == WORK else home, "LANG": "C.UTF-8",
            "MPLCONFIGDIR": f"{home}/.mpl", "XDG_CACHE_HOME": f"{home}/.cache", "TORCH_HOME": f"{home}/.torch",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _launch(job: Path, work: Path, timeout: float, level: str, argv_tail: list[str]) -> SandboxResult:
    """Start the student process under the given isolation level and wait for it."""
    with tempfile.TemporaryDirectory(prefix="vaelib-jail-") as jail:
        jail_p = Path(jail)
        (jail_p / "root").mkdir()
        log_path = jail_p / "log.txt"
        if level == "namespaces":
            argv = [sys.executable, "-I", "-B", *argv_tail]
            cmd, env = _namespace_command(job, work, jail_p / "root", argv, as_root=os.geteuid() == 0)
            env |= _student_env(WORK)
            cwd = "/"
        else:
            cmd, env, cwd = [sys.executable, "-I", "-B", *argv_tail], _student_env(str(work)), str(work)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    cwd=cwd, start_new_session=True, close_fds=True)
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill(proc)
        with open(log_path, "rb") as f:
            text = f.read(20_000).decode("utf-8", "replace")
        return SandboxResult(None if timed_out else proc.returncode, timed_out, text)


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL to the process group (weak level) or to unshare, whose --kill-child takes the
    namespace's PID 1, and with it every process of the namespace."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait(timeout=30)


@lru_cache(maxsize=1)
def _namespaces_work() -> str | None:
    """None when a namespace sandbox starts here, else why not (one line)."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return "no util-linux unshare on this system"
    with tempfile.TemporaryDirectory(prefix="vaelib-probe-") as tmp:
        job, work = Path(tmp) / "job", Path(tmp) / "work"
        job.mkdir()
        work.mkdir()
        (job / "probe.py").write_text("import os\n"
                                      "assert not os.path.exists(%r)\n"
                                      "open(%r, 'w').write(str(os.getpid()))\n" % (__file__, RESULTS))
        try:
            r = _launch(job, work, 60, "namespaces", [f"{JOB}/probe.py"])
        except OSError as e:
            return f"unshare failed: {e}"
        if r.returncode == 0 and (work / "results.pt").read_text() == "1":
            return None
        last = (r.log.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        return f"the namespace sandbox does not start here ({last[:160]})"


def isolation(allow_weak: bool = False) -> Isolation:
    """The strongest isolation this system offers; GradingError-worthy RuntimeError when only the
    weak level is left and allow_weak is False."""
    why_not = _namespaces_work()
    if why_not is None:
        who = "a user id of its own" if os.geteuid() == 0 else "a user namespace"
        return Isolation("namespaces", f"Linux namespaces (mount, PID, network, IPC, UTS; {who}, no new privileges): "
                                       "read-only root without the repository, no network, resource limits")
    if not allow_weak:
        raise RuntimeError(f"no OS isolation for student code: {why_not}; pass --allow-weak-isolation (make grade "
                           "WEAK=1) to grade anyway (only for submissions you trust)")
    return Isolation("weak", f"WEAK: a plain child process with resource limits only ({why_not})")


def run(job: Path, work: Path, timeout: float, level: str) -> SandboxResult:
    """Run probes.py on the job folder (payload.json, inputs.pt, lib/) in the sandbox."""
    if level == "namespaces":
        return _launch(job, work, timeout, level, [f"{JOB}/probes.py", JOB])
    return _launch(job, work, timeout, level, [str(job / "probes.py"), str(job)])
