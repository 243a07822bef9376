"""How many CPUs this process may use, and the thread counts camseg gives torch and OpenCV.

No torch or OpenCV import at module level: `--threads` is checked, and the environment that torch's
OpenMP runtime reads when it loads is set, before either loads (issue 33).

Sources, the smallest that applies wins: the affinity mask (taskset, a container's cpuset), the cgroup v2
quota (`cpu.max`, rounded UP: a 1.5-CPU quota keeps two threads busy at 75% each, while one thread would
leave half a CPU idle; the JVM's container support rounds the same way), and Slurm's
`SLURM_CPUS_PER_TASK`. A user's `OMP_NUM_THREADS` is taken as given (never raised, lowered or rewritten);
only `--threads` on the command line, the more specific request, replaces it for this process.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from camseg_cli.core.errors import CamsegError

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
OPENCV_THREADS = "OPENCV_FOR_THREADS_NUM"  # read once, when cv2 loads
# How OpenMP threads wait at a barrier, unless the user set either variable: spin GOMP_SPINCOUNT turns
# (GNU libgomp, torch's OpenMP on Linux), then sleep; PASSIVE for runtimes that ignore the count (LLVM's
# libomp: sleep at once). libgomp's default spins ~300,000 turns (about 3 ms): with one of two cores taken
# by another process that made the training 9-12x slower. Training alone / beside one busy
# process on 2 cores, medians of 5 rotated turns (benchmarks/NOTES.md, "Spin count"): 0 turns (PASSIVE)
# 15.7 / 20.7 s, 100 turns 15.8 / 20.5, 1000 14.9 / 21.9, 3000 14.8 / 24.7 (10000: 35 s beside one).
# Alone, 8 rotated turns: 1000 turns 14.5 s, torch's default 15.2, sleeping at once 15.7.
WAIT_POLICY = "OMP_WAIT_POLICY"
SPIN_COUNT = "GOMP_SPINCOUNT"
SPINS = "1000"


@dataclass(frozen=True)
class Threads:
    compute: int  # torch intra-op (and inter-op) threads in the main process
    source: str  # what set it: --threads, OMP_NUM_THREADS, affinity, cgroup cpu.max, SLURM_CPUS_PER_TASK


def affinity_cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0)) or None
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count()


def cgroup_cpus(path: Path | str = CPU_MAX) -> int | None:
    """cgroup v2 `cpu.max` ("QUOTA PERIOD" or "max PERIOD"): quota in CPUs, rounded up; None if none."""
    try:
        quota, _, period = Path(path).read_text().strip().partition(" ")
        if quota == "max":
            return None
        q, p = int(quota), int(period or 100000)
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(q / p)) if q > 0 and p > 0 else None


def _positive(text: str | None) -> int | None:
    try:
        n = int((text or "").split(",")[0].strip())  # OMP_NUM_THREADS may be a list per nesting level
    except ValueError:
        return None
    return n if n > 0 else None


def usable(environ: Mapping[str, str] | None = None, cpu_max: Path | str = CPU_MAX) -> tuple[int, str]:
    """The CPUs this process may use and which limit says so: the smallest of affinity, quota and Slurm."""
    env = os.environ if environ is None else environ
    found = {
        "affinity": affinity_cpus(),
        "cgroup cpu.max": cgroup_cpus(cpu_max),
        "SLURM_CPUS_PER_TASK": _positive(env.get("SLURM_CPUS_PER_TASK")),
    }
    limits = [(n, name) for name, n in found.items() if n]
    return min(limits, key=lambda x: x[0]) if limits else (1, "default")


def parse_threads(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1:
        raise CamsegError(f"--threads {value}: a whole number of threads, at least 1")
    return n


def choose_threads(
    value: str | int | None = None,
    environ: Mapping[str, str] | None = None,
    cpu_max: Path | str = CPU_MAX,
) -> Threads:
    """--threads if given, else the user's OMP_NUM_THREADS, else the CPUs this process may use. Loader
    workers (one torch and one OpenCV thread each) are not subtracted: on two CPUs with two workers, one
    main thread trained the issue's case in 19.1-19.4 s alone, two passive ones in 16.5-18.3 s, and both
    stayed under 1.3x beside a busy process (benchmarks/NOTES.md, "Shared CPU")."""
    env = os.environ if environ is None else environ
    given = parse_threads(value)
    if given is not None:
        return Threads(given, "--threads")
    user = _positive(env.get("OMP_NUM_THREADS"))
    if user is not None:
        return Threads(user, "OMP_NUM_THREADS")
    return Threads(*usable(env, cpu_max))


_given: int | None = None  # the count use_threads applied in this process


def pool_size(cap: int) -> int:
    """Threads or processes for a helper pool (decoding, checking, rendering): at most `cap`, and no more
    than this process's compute threads (--threads, OMP_NUM_THREADS, else the CPUs it may use)."""
    return max(1, min(cap, _given or choose_threads().compute))


def use_threads(value: str | int | None = None) -> int:
    """Check --threads and apply the chosen count: through the environment when torch has not loaded yet
    (OpenMP reads it, and how its threads wait, once, at load), else through torch directly. Returns the
    count, for config.json."""
    global _given
    t = choose_threads(value)
    _given = t.compute
    if "torch" in sys.modules:  # tests, or a library caller: the runtime is up, set it directly
        set_torch_threads(t.compute)
        return t.compute
    if t.source != "OMP_NUM_THREADS":
        os.environ["OMP_NUM_THREADS"] = str(t.compute)
        os.environ["MKL_NUM_THREADS"] = str(t.compute)
    # OpenCV's pthreads pool ignores OMP_NUM_THREADS and sizes itself from the machine at load; its own
    # variable is kept when a user set it, unless --threads asks otherwise.
    if t.source == "--threads" or OPENCV_THREADS not in os.environ:
        os.environ[OPENCV_THREADS] = str(t.compute)
    if WAIT_POLICY not in os.environ and SPIN_COUNT not in os.environ:  # a user's choice is kept whole
        os.environ[WAIT_POLICY] = "PASSIVE"
        os.environ[SPIN_COUNT] = SPINS
    return t.compute


def set_torch_threads(n: int) -> None:
    """The main process's torch threads (and OpenCV's, if loaded). Inter-op threads can be set only before
    any inter-op work has started; later calls keep the earlier setting."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # already set, or parallel work already ran
        pass
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(n)


def worker_threads(_: int = 0) -> None:
    """In a loader worker (a DataLoader's worker_init_fn): one torch thread and one OpenCV thread; the
    workers are the parallelism."""
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
