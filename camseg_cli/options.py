"""Options shared by several commands, declared once."""

from __future__ import annotations

import typer

SPLIT_BY_AS_TRAINED = typer.Option(
    None,
    "--split-by",
    help="dataset: its own split; sequence: whole sequences, none in two splits (default: as trained).",
)
VAL_SEQUENCES = typer.Option(None, "--val-sequences", help="With --split-by sequence, e.g. 0006R0.")
TEST_SEQUENCES = typer.Option(None, "--test-sequences", help="With --split-by sequence, e.g. Seq05VD.")
CACHE = typer.Option(
    "none",
    "--cache",
    help="Decoded samples: none (read every time), ram (this process) or disk (OUT/cache/, reused while "
    "the files are unchanged).",
)
CONDITION = typer.Option(
    None,
    "--condition",
    help="ACDC: conditions to score, e.g. night or fog,night (default all; each reported).",
)
CLASS_MAP = typer.Option(
    None,
    "--class-map",
    help="CSV from,to mapping the dataset's classes onto the checkpoint's (unmapped: void), or a shipped "
    "map: camvid11_to_cityscapes19, cityscapes19_to_camvid11. Default: classes matched by name.",
)
CORRUPT = typer.Option(
    None,
    "--corrupt",
    help="Also score under the corruption suite: all, a family (noise, blur, weather, digital, camera) or "
    "names (camseg corrupt-preview shows them).",
)
SEVERITY = typer.Option("1-5", "--severity", help="With --corrupt: severities, e.g. 3 or 1-5.")
CORRUPT_SEED = typer.Option(0, "--corrupt-seed", help="Seed of the corruptions' random draws.")
THREADS = typer.Option(
    None,
    "--threads",
    help="Compute threads (default: the CPUs this process may use: affinity, cgroup quota, Slurm; a set "
    "OMP_NUM_THREADS is kept). Loader workers run one thread each.",
)
