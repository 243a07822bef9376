"""Training and CPU evaluation alone, beside one and beside two busy-looping processes (issue 33).

Each time is a ratio to the same variant alone in the same run. Variants: camseg as it is (--threads unset)
and `before`, the code at another commit (torch's defaults: no thread settings), from --before-src.
Run under the CPU lock:  flock /tmp/camseg-cpu.lock .venv/bin/python benchmarks/bench_shared_cpu.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _spin() -> None:
    while True:
        pass


def _camseg(src: Path, args: list[str]) -> float:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
    }
    env["PYTHONPATH"] = str(src)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "camseg_cli", *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--before-src", type=Path, required=True)
    p.add_argument("--images", type=int, default=24)
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    data = tmp / "data"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "camseg_cli",
            "synth",
            str(data),
            "--images",
            str(a.images),
            "--size",
            "120x160",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    train = [
        "train",
        "--data",
        str(data),
        "--arch",
        "mobilenet_v3_large",
        "--weights",
        "none",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--size",
        "120x160",
        "--device",
        "cpu",
        "--aug",
        "none",
        "--quiet",
    ]
    rows = {}
    for name, src in (("camseg", ROOT), ("before", a.before_src)):
        for busy in (0, 1, 2):
            spinners = [mp.Process(target=_spin, daemon=True) for _ in range(busy)]
            for s in spinners:
                s.start()
            out = tmp / f"{name}-{busy}"
            t_train = _camseg(src, [*train, "--out", str(out)])
            ckpt = out / "mobilenet_v3_large-none.pt"
            t_eval = _camseg(
                src,
                [
                    "evaluate",
                    str(ckpt),
                    "--data",
                    str(data),
                    "--split",
                    "val",
                    "--device",
                    "cpu",
                    "--out",
                    str(out / "eval"),
                ],
            )
            for s in spinners:
                s.terminate()
            rows[f"{name} busy={busy}"] = (t_train, t_eval)
            print(name, busy, f"train {t_train:.1f}s eval {t_eval:.1f}s", flush=True)
    for name in ("camseg", "before"):
        alone = rows[f"{name} busy=0"]
        for busy in (0, 1, 2):
            t = rows[f"{name} busy={busy}"]
            print(
                f"{name:7s} busy={busy}: train {t[0]:5.1f}s x{t[0] / alone[0]:.2f}  eval {t[1]:5.1f}s "
                f"x{t[1] / alone[1]:.2f}"
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
