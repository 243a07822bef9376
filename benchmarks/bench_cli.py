"""Start-up benchmark: how long a command takes before it does anything, in fresh interpreters.

Run: python benchmarks/bench_cli.py [--repeat 5] [--ref REV] [--json]

Times, in turns (one of each, then again), the wall time of new processes running:
- `python -c pass`, the interpreter alone (the floor);
- `import torch, torchvision, albumentations, pandas`, what every command paid before its first line
  while the command modules imported them at the top (the baseline: old start-up >= this);
- `camseg --help`, `camseg train --help` and `camseg synth` of 6 tiny images (a command that needs none of
  those libraries).
With --ref REV (say --ref HEAD~1) the same three commands also run from a git worktree of REV, in the same
turns, for a before/after of a change.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, emit, interleaved

HEAVY = "import torch, torchvision, albumentations, pandas"


def _process(argv: list[str], cwd: Path):
    def run() -> None:
        subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

    return run


def _commands(tree: Path, scratch: Path, tag: str) -> dict:
    """camseg's three commands run from `tree`'s source (python -m puts the working folder first)."""
    camseg = [sys.executable, "-m", "camseg_cli"]
    synth_dest = scratch / f"synth-{tag}"

    def synth() -> None:
        shutil.rmtree(synth_dest, ignore_errors=True)
        _process([*camseg, "synth", str(synth_dest), "--images", "6", "--size", "64x96", "--quiet"], tree)()

    return {
        f"help{tag}": _process([*camseg, "--help"], tree),
        f"train_help{tag}": _process([*camseg, "train", "--help"], tree),
        f"synth{tag}": synth,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--ref", help="git revision to time beside the working tree (e.g. HEAD~1)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        cases = {
            "python": _process([sys.executable, "-c", "pass"], ROOT),
            "heavy_imports": _process([sys.executable, "-c", HEAVY], ROOT),
            **_commands(ROOT, scratch, ""),
        }
        if args.ref:
            ref_tree = scratch / "ref"
            subprocess.run(
                ["git", "worktree", "add", "-q", "--detach", str(ref_tree), args.ref], cwd=ROOT, check=True
            )
            cases.update(_commands(ref_tree, scratch, "_ref"))
        try:
            ms = interleaved(cases, repeat=args.repeat)
        finally:
            if args.ref:
                subprocess.run(["git", "worktree", "remove", "--force", str(ref_tree)], cwd=ROOT, check=False)
    results = {f"{name}_s": t / 1000 for name, t in ms.items()}
    # the old start-up was at least the heavy imports: a lower bound of the speed-up
    results["help_vs_heavy_imports"] = ms["heavy_imports"] / ms["help"]
    if args.ref:
        for name in ("help", "train_help", "synth"):
            results[f"{name}_speedup_vs_ref"] = ms[f"{name}_ref"] / ms[name]
        results["ref"] = args.ref
    emit("bench_cli", results, args.json)


if __name__ == "__main__":
    main()
