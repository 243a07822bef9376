"""`camseg evaluate`: per-class IoU / accuracy of a checkpoint on a split, mIoU with a bootstrap CI."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from camseg_cli.app import command, console, print_json
from camseg_cli.core.choices import VOID_TAG
from camseg_cli.core.cpus import use_threads
from camseg_cli.core.data.corruption.names import parse_corrupt, parse_severity
from camseg_cli.core.data.sources.samples import SPLITS
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.config import Corruption, EvalConfig
from camseg_cli.core.evaluation.scoring.slices import check_slices
from camseg_cli.core.files import fmt_number, make_folder
from camseg_cli.core.suggest import check_file
from camseg_cli.options import (
    AS_JSON,
    BATCH_SIZE,
    CACHE,
    CLASS_MAP,
    CONDITION,
    CORRUPT,
    CORRUPT_SEED,
    DATA_AS_RECORDED,
    DEVICE,
    LAYOUT,
    OUT,
    QUIET,
    SEVERITY,
    SKIP_BAD,
    SLICE,
    SPLIT_BY_AS_TRAINED,
    TEST_SEQUENCES,
    THREADS,
    VAL_SEQUENCES,
    WORKERS,
)
from camseg_cli.progress import Reporter

if TYPE_CHECKING:  # torch loads when the command runs, not with `camseg --help`
    from camseg_cli.core.evaluation.scoring.evaluation import Evaluation
    from camseg_cli.core.evaluation.scoring.results import EvalResult
    from camseg_cli.core.evaluation.scoring.robustness import Robustness
    from camseg_cli.core.evaluation.scoring.slice_scores import SliceScore


def _ci(ci: tuple[float, float]) -> str:
    return "" if any(math.isnan(v) for v in ci) else f"  [95% CI {ci[0]:.3f}–{ci[1]:.3f}]"


def class_table(result: EvalResult) -> Table:
    table = Table(title=f"{result.run} on {result.split} ({result.num_images} images, {result.data})")
    for col in ("class", "IoU", "acc", "Dice", "gt pixels", "predicted"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for row in result.per_class():
        absent = math.isnan(row["iou"])
        cells = [
            fmt_number(row["iou"]),
            fmt_number(row["acc"]),
            fmt_number(row["dice"]),
            f"{row['pixels']:,}",
            f"{row['predicted']:,}",
        ]
        table.add_row(row["class"], *cells, style="dim" if absent else None)
    void = result.void_report()
    if void and void["name"]:
        table.add_row(
            f"{void['name']} ({VOID_TAG})",
            "",
            "",
            "",
            f"{void['pixels']:,}",
            f"{void['predicted']:,}",
            style="dim",
        )
    return table


def summary_lines(result: EvalResult) -> list[str]:
    s = result.scores
    nan2 = (math.nan, math.nan)
    scored = len(result.per_class()) - s.absent
    absent = f"; {s.absent} absent from labels and predictions, left out" if s.absent else ""
    never = result.unlabelled_names()
    unlabelled = (
        [
            f"[yellow]predicted, never labelled[/] in this split: {escape(', '.join(never))} — IoU 0, "
            "counted in mIoU (the standard convention; README, evaluate)"
        ]
        if never
        else []
    )
    return [
        f"[bold]mIoU[/] {fmt_number(s.miou)}{_ci(result.ci.get('miou', nan2))} over {scored} classes{absent}",
        f"pixel accuracy {fmt_number(s.pixel_acc)}{_ci(result.ci.get('pixel_acc', nan2))}",
        f"mean class accuracy {fmt_number(s.mean_acc)}   frequency-weighted IoU {fmt_number(s.fwiou)}",
        f"{result.num_images} images in {result.seconds:.1f}s"
        + (f", bootstrap {result.bootstrap} resamples (seed {result.seed})" if result.bootstrap else ""),
        *unlabelled,
        *condition_lines(result),
    ]


def condition_lines(result: EvalResult) -> list[str]:
    """One line per ACDC condition: its images, mIoU and pixel accuracy."""
    return [
        f"  {cond}: mIoU {fmt_number(c['miou'])}, pixel accuracy {fmt_number(c['pixel_acc'])} "
        f"({c['images']} images)"
        for cond, c in result.by_condition().items()
    ]


def slice_table(result: EvalResult, slices: list[SliceScore]) -> Table:
    """One row per slice: frames, mIoU with its CI, pixel accuracy; a thin slice says why it has none."""
    table = Table(title=f"{result.run} on slices of {result.split} (bootstrap over each slice's frames)")
    for col in ("slice", "frames", "mIoU", "95% CI", "pixel acc", "note"):
        table.add_column(col, justify="left" if col in ("slice", "note") else "right", overflow="fold")
    for s in slices:
        ci = "" if any(math.isnan(v) for v in s.miou_ci) else f"{s.miou_ci[0]:.3f}–{s.miou_ci[1]:.3f}"
        note = "too few frames to score" if s.note else ""
        table.add_row(s.name, str(s.frames), fmt_number(s.miou), ci, fmt_number(s.pixel_acc), note)
    return table


def robustness_table(rob: Robustness, ref: Robustness | None) -> Table:
    """One row per corruption: mIoU at each severity, mean, relative to clean (and CD against --reference)."""
    sev = rob.severities
    table = Table(
        title=f"{rob.clean.run} under corruption (clean mIoU {rob.clean_miou:.3f}, seed {rob.seed})"
    )
    for col in (
        "corruption",
        "family",
        *(f"s{s}" for s in sev),
        "mean",
        "relative",
        *(["CD"] if ref else []),
    ):
        table.add_column(col, justify="left" if col in ("corruption", "family") else "right")
    for r in rob.rows(ref):
        cells = [fmt_number(r["miou"][str(s)]) for s in sev] + [
            fmt_number(r["mean"]),
            fmt_number(r["relative"]),
        ]
        table.add_row(r["corruption"], r["family"], *cells, *([fmt_number(r["cd"])] if ref else []))
    return table


def robustness_lines(rob: Robustness, ref: Robustness | None) -> list[str]:
    data = rob.to_json(ref)
    lines = [
        f"[bold]mean corrupted mIoU[/] {fmt_number(data['mean_corrupted_miou'])} "
        f"({fmt_number(data['relative'])} of clean {fmt_number(rob.clean_miou)}) over {len(rob.corruptions)} "
        f"corruptions x severities {', '.join(map(str, rob.severities))}",
        "by family: " + ", ".join(f"{f} {fmt_number(v)}" for f, v in data["families"].items()),
    ]
    if ref is not None:
        lines.append(
            f"[bold]mCD[/] {fmt_number(data['mcd'])} (relative {fmt_number(data['relative_mcd'])}) against "
            f"{escape(ref.clean.run)}: under 1 is more robust than the reference (Kamann & Rother 2020)"
        )
    secs = data["seconds"]
    lines.append(f"corrupted passes {secs['corrupted']:.1f}s beside the clean pass {secs['clean']:.1f}s")
    return lines


@command("evaluate")
def evaluate_cmd(
    checkpoint: Path = typer.Argument(..., help="A camseg checkpoint (.pt)."),
    data: Path = DATA_AS_RECORDED,
    split: str = typer.Option("test", "--split", help=f"Split to score: {', '.join(SPLITS)}."),
    layout: str = LAYOUT,
    batch_size: int | None = BATCH_SIZE,
    device: str = DEVICE,
    workers: int = WORKERS,
    bootstrap: int = typer.Option(
        1000, "--bootstrap", help="Resamples over images for the 95% CIs (0: none)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    split_by: str = SPLIT_BY_AS_TRAINED,
    val_sequences: str = VAL_SEQUENCES,
    test_sequences: str = TEST_SEQUENCES,
    skip_bad: bool = SKIP_BAD,
    cache: str = CACHE,
    condition: str = CONDITION,
    class_map: str = CLASS_MAP,
    slice_: str = SLICE,
    corrupt: str = CORRUPT,
    severity: str = SEVERITY,
    corrupt_seed: int = CORRUPT_SEED,
    reference: Path = typer.Option(
        None, "--reference", help="With --corrupt: a checkpoint to score corruption degradation (CD) against."
    ),
    out: Path = OUT,
    as_json: bool = AS_JSON,
    quiet: bool = QUIET,
    threads: str = THREADS,
) -> None:
    """Score a checkpoint on a dataset split at each label's own resolution; reports go to OUT/eval/."""
    use_threads(threads)  # before torch loads: OpenMP reads its thread count and wait policy once
    cfg = EvalConfig(
        data, split, layout, split_by, val_sequences, test_sequences, condition, class_map, skip_bad,
        batch_size, device, workers, cache, bootstrap, seed, out,
    ).check()  # fmt: skip
    check_file(checkpoint)  # names, files and folders before torch loads
    slices = check_slices(slice_)
    corruption = (
        Corruption(parse_corrupt(corrupt), parse_severity(severity), corrupt_seed) if corrupt else None
    )
    if reference is not None and not corrupt:
        raise CamsegError("--reference needs --corrupt: it is the baseline of corruption degradation")
    if reference is not None:
        check_file(reference)
    from camseg_cli.core.evaluation.scoring.evaluation import evaluate

    make_folder(out / "eval")  # an unwritable --out fails now, not after the evaluation
    reporter = Reporter(quiet=quiet or as_json)
    with reporter.session():
        ev = evaluate(checkpoint, cfg, slices, corruption, reference, reporter.track)
    if as_json:
        print_json(ev.to_json())
        return
    render(ev)


def render(ev: Evaluation) -> None:
    """Tables and lines of one evaluation, on the terminal."""
    result = ev.result
    console.print(class_table(result))
    for line in summary_lines(result):
        console.print(line, highlight=False)
    if result.dependence is not None and result.dependence.flagged:
        warning = result.dependence.warning(result.run)
        console.print(f"[bold red]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if ev.slices:
        console.print(slice_table(result, ev.slices))
    if ev.rob is not None:
        console.print(robustness_table(ev.rob, ev.ref))
        for line in robustness_lines(ev.rob, ev.ref):
            console.print(line, highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in ev.paths)}", highlight=False, soft_wrap=True)
