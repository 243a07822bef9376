"""Training and CPU evaluation alone, beside one and beside two busy-looping processes (issue 33).

Each time is a ratio to the same variant alone in the same run. Variants: camseg as it is (--threads unset)
and `before`, the code at another commit (torch's defaults: no thread settings), from --before-src. Data:
real frames with --data (any layout camseg reads; --layout to force one), else a synthetic set. Cells run
in turns (each busy level: camseg, then before), --repeats times; the table shows each cell's median.
Run under the CPU lock (the issue's case on real frames):
    flock /tmp/camseg-cpu.lock .venv/bin/python benchmarks/bench_shared_cpu.py \
        --before-src /tmp/camseg-before --data /work/shared/camvid-dev
`--dry-run` prints the commands and stops; `--quick` is a tiny smoke run (figures mean nothing).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, emit

# What the runs' thread settings must not inherit from the shell that started the benchmark.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
    "OPENCV_FOR_THREADS_NUM",
)
CHECKPOINT = "mobilenet_v3_large-none.pt"  # the run's default name: ARCH-AUG


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before-src", type=Path, required=True, help="Folder holding the older camseg_cli.")
    p.add_argument("--data", type=Path, help="Dataset folder (real frames); default: a synthetic set.")
    p.add_argument("--layout", help="Force the dataset layout (default: detected from the folder).")
    p.add_argument("--size", default="120x160", help="Training size HxW.")
    p.add_argument("--images", type=int, default=24, help="Synthetic images, without --data.")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--busy", default="0,1,2", help="Busy-looping processes beside each run.")
    p.add_argument(
        "--same-session",
        action="store_true",
        help="Start the busy processes in the benchmark's own session (earlier runs did; see NOTES.md).",
    )
    p.add_argument("--repeats", type=int, default=1, help="Turns over every cell; the table shows medians.")
    p.add_argument("--dry-run", action="store_true", help="Print the commands and stop.")
    p.add_argument("--quick", action="store_true", help="Tiny smoke run: 16 synthetic 32x48 images, 1 epoch.")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.quick:
        a.data, a.images, a.size, a.epochs, a.busy = None, 16, "32x48", 1, "0,1"
    a.busy = [int(b) for b in a.busy.split(",")]
    for flag, path in (("--data", a.data), ("--before-src", a.before_src)):
        if path is not None and not path.is_dir():
            p.error(f"{flag} {path}: not a folder")
    if not (a.before_src / "camseg_cli").is_dir():
        p.error(f"--before-src {a.before_src}: no camseg_cli/ in it (git archive COMMIT camseg_cli | tar -x)")
    return a


def commands(a: argparse.Namespace, data: Path, out: Path) -> tuple[list[str], list[str]]:
    """The training and the evaluation of one cell, as camseg arguments."""
    layout = ["--layout", a.layout] if a.layout else []
    train = ["train", "--data", str(data), *layout, "--arch", "mobilenet_v3_large", "--weights", "none"]
    train += ["--epochs", str(a.epochs), "--batch-size", "8", "--size", a.size, "--device", "cpu"]
    train += ["--aug", "none", "--quiet", "--out", str(out)]
    evaluate = ["evaluate", str(out / CHECKPOINT), "--data", str(data), *layout, "--split", "val"]
    evaluate += ["--device", "cpu", "--quiet", "--out", str(out / "eval")]
    return train, evaluate


SPIN = "while True: pass"


def _python(src: Path, args: list[str]) -> subprocess.CompletedProcess:
    """`python ARGS` importing camseg_cli from `src`. It runs in `src`: Python puts the working folder
    before PYTHONPATH, so started from the repository it would import the repository's camseg_cli (earlier
    runs' `before` rows did, see NOTES.md)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env["PYTHONPATH"] = str(src)
    return subprocess.run([sys.executable, *args], env=env, cwd=src, capture_output=True, text=True)


def imported(src: Path) -> Path:
    """The camseg_cli folder a run from `src` imports."""
    done = _python(src, ["-c", "import camseg_cli; print(camseg_cli.__path__[0])"])
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 else Path()


def _camseg(src: Path, args: list[str]) -> float:
    start = time.perf_counter()
    done = _python(src, ["-m", "camseg_cli", *args])
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        sys.exit(f"camseg {shlex.join(args[:1])} failed ({src}): {' '.join(tail)}")
    return time.perf_counter() - start


def spinners(busy: int, same_session: bool) -> list[subprocess.Popen]:
    """`busy` processes looping `while True: pass`. By default each in a session of its own, as another
    program (another terminal, another user's job) is: with Linux autogroup scheduling
    (/proc/sys/kernel/sched_autogroup_enabled) a process in the benchmark's own session shares the CPUs
    thread by thread with camseg, while one outside gets its session's full share."""
    spin = [sys.executable, "-c", SPIN]
    return [subprocess.Popen(spin, start_new_session=not same_session) for _ in range(busy)]


def cell(
    src: Path, busy: int, train: list[str], evaluate: list[str], same_session: bool = False
) -> tuple[float, float]:
    """Seconds for the training and then the evaluation, with `busy` spinning processes beside them."""
    spinning = spinners(busy, same_session)
    try:
        return _camseg(src, train), _camseg(src, evaluate)
    finally:
        for s in spinning:
            s.kill()
            s.wait()


def _synthetic(a: argparse.Namespace, tmp: Path) -> Path:
    data = tmp / "data"
    synth = [
        sys.executable,
        "-m",
        "camseg_cli",
        "synth",
        str(data),
        "--images",
        str(a.images),
        "--size",
        a.size,
    ]
    subprocess.run([*synth, "--quiet"], check=True, capture_output=True, cwd=ROOT)
    return data


def table(times: dict[str, dict[int, list[tuple[float, float]]]]) -> list[dict]:
    """One row per variant and busy level: median seconds and their ratios to the variant alone."""
    rows = []
    for name, by_busy in times.items():
        alone = [statistics.median(t[i] for t in by_busy[0]) for i in (0, 1)] if 0 in by_busy else None
        for busy, runs in by_busy.items():
            train, ev = (statistics.median(t[i] for t in runs) for i in (0, 1))
            row = {"variant": name, "busy": busy, "train_s": round(train, 2), "eval_s": round(ev, 2)}
            if alone:
                row["train_x"], row["eval_x"] = round(train / alone[0], 2), round(ev / alone[1], 2)
            row["runs"] = [[round(t, 2), round(e, 2)] for t, e in runs]
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    variants = {"camseg": ROOT, "before": a.before_src}
    if a.dry_run:
        for line in commands(a, a.data or Path("SYNTHETIC"), Path("OUT")):
            print("camseg", shlex.join(line))
        return
    for name, src in variants.items():
        if (got := imported(src)) != (src / "camseg_cli").resolve():
            sys.exit(f"{name} ({src}): python imports camseg_cli from {got}, not from {src}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    try:
        data = a.data.resolve() if a.data else _synthetic(a, tmp)
        times: dict[str, dict[int, list]] = {name: {b: [] for b in a.busy} for name in variants}
        start = time.perf_counter()
        for r in range(a.repeats):
            for busy in a.busy:
                for name, src in variants.items():
                    train, evaluate = commands(a, data, tmp / f"{name}-{busy}-{r}")
                    t = cell(src, busy, train, evaluate, a.same_session)
                    times[name][busy].append(t)
                    print(
                        f"{name} busy={busy} turn {r + 1}: train {t[0]:.1f} s, eval {t[1]:.1f} s", flush=True
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # checkpoints of every cell
    rows = table(times)
    results = {"data": str(data), "size": a.size, "repeats": a.repeats, "rows": rows}
    results["wall_s"] = round(time.perf_counter() - start, 1)
    emit("bench_shared_cpu_quick" if a.quick else "bench_shared_cpu", results, a.json)
    if not a.json:
        for row in rows:
            ratios = f" x{row['train_x']:.2f}" if "train_x" in row else ""
            print(
                f"{row['variant']:7s} busy={row['busy']}: train {row['train_s']:6.1f} s{ratios}  "
                f"eval {row['eval_s']:6.1f} s" + (f" x{row['eval_x']:.2f}" if "eval_x" in row else "")
            )


if __name__ == "__main__":
    main()
