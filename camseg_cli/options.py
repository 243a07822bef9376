"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path

import typer

from camseg_cli.core.data.sources.layouts import READ_LAYOUTS

SPLIT_BY_HELP = "dataset: its own split; sequence: whole sequences, none in two splits."
SPLIT_BY_AS_TRAINED = typer.Option(None, "--split-by", help=SPLIT_BY_HELP[:-1] + " (default: as trained).")
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
    help="Compute threads of the main process (default: the CPUs this process may use, from affinity, "
    "cgroup quota and Slurm; a set OMP_NUM_THREADS is kept). Loader workers run one thread each; OpenMP "
    "threads spin briefly, then sleep, unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set.",
)

# ---------------------------------------------------------------- the options most commands take
# One declaration each; where commands need another default, the variants share one help text.
DATA_HELP = f"Dataset folder (layouts: {', '.join(READ_LAYOUTS)}; `camseg synth` makes one)."
DATA = typer.Option(None, "--data", "-d", help=DATA_HELP)
DATA_REQUIRED = typer.Option(..., "--data", "-d", help=DATA_HELP)
DATA_AS_RECORDED = typer.Option(
    None, "--data", "-d", help="Dataset folder; default: the one the checkpoint records."
)
DATA_AS_EACH_RECORDED = typer.Option(
    None, "--data", "-d", help="Dataset folder; default: the one each checkpoint records."
)
LAYOUT = typer.Option(None, "--layout", help=f"Force a dataset layout: {', '.join(READ_LAYOUTS)}.")
SPLIT_BY = typer.Option("dataset", "--split-by", help=SPLIT_BY_HELP)
OUT = typer.Option(
    Path("out"),
    "--out",
    "-o",
    help="Output folder: checkpoints, runs and reports (OUT/eval/, OUT/stats/, ...).",
)
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
BATCH_SIZE = typer.Option(
    None, "--batch-size", "-b", help="Images per forward pass (default: 1 on CPU, 4 on CUDA)."
)
WORKERS = typer.Option(
    None,
    "--workers",
    help="Image-loading processes (0: in the main process; default: evaluate, compare and predict 0 on CPU, "
    "4 on CUDA; train the CPUs, at most 4).",
)
SKIP_BAD = typer.Option(
    False, "--skip-bad", help="Leave out (and list) unreadable samples instead of stopping."
)
QUIET = typer.Option(
    False, "--quiet", "-q", help="No progress bars (train: plain lines, epoch summaries only)."
)
AS_JSON = typer.Option(False, "--json", help="Print one JSON object to stdout instead of tables.")
SLICE = typer.Option(
    None,
    "--slice",
    help="Real conditions: dark (frames under camseg stats's dark threshold), sequence (each drive apart), "
    "or both: dark,sequence.",
)
