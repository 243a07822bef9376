"""Shared benchmark helpers: timing with warm-up, result tables and JSON under out/bench/."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timeit(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of fn() in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def interleaved(fns: dict[str, Callable[[], object]], repeat: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median wall time (ms) of each fn, timed in turns (a, b, a, b, ...) so load on a shared machine
    falls on every candidate alike instead of on whichever ran while it lasted."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) * 1000)
    return {name: statistics.median(ts) for name, ts in times.items()}


def machine() -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()}
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def emit(name: str, results: dict, as_json: bool, out: Path = ROOT / "out" / "bench") -> None:
    """Print a table (or JSON on stdout) and always write out/bench/NAME.json."""
    doc = {"benchmark": name, "machine": machine(), **results}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    if as_json:
        print(json.dumps(doc))
        return
    # nested results (per-preset rows, say) are left to the benchmark's own table
    flat = {k: v for k, v in results.items() if not isinstance(v, dict | list)}
    width = max(len(k) for k in flat)
    print(f"# {name}  ({doc['machine']})")
    for k, v in flat.items():
        print(f"{k:<{width}}  {v:.3f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
