"""`camseg evaluate`: per-class IoU / accuracy of a checkpoint on a split, mIoU with a bootstrap CI."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from camseg_cli.app import command, console, print_json
from camseg_cli.core.checks import check_options
from camseg_cli.core.choices import CACHE_MODES, VOID_TAG
from camseg_cli.core.cpus import use_threads
from camseg_cli.core.data.corruption.names import parse_corrupt, parse_severity
from camseg_cli.core.data.sources.layouts import READ_LAYOUTS
from camseg_cli.core.data.sources.samples import SPLITS
from camseg_cli.core.data.sources.splits import SPLIT_BY
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.files import fmt_number, make_folder
from camseg_cli.core.suggest import check_choice, check_data_folder, check_device, check_file, check_out
from camseg_cli.options import (
    CACHE,
    CLASS_MAP,
    CONDITION,
    CORRUPT,
    CORRUPT_SEED,
    SEVERITY,
    SPLIT_BY_AS_TRAINED,
    TEST_SEQUENCES,
    THREADS,
    VAL_SEQUENCES,
)
from camseg_cli.progress import Reporter

if TYPE_CHECKING:  # torch loads when the command runs, not with `camseg --help`
    from camseg_cli.core.evaluation.scoring.results import EvalResult
    from camseg_cli.core.evaluation.scoring.robustness import Robustness


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
    data: Path = typer.Option(
        None, "--data", "-d", help="Dataset folder; default: the one the checkpoint records."
    ),
    split: str = typer.Option("test", "--split", help=f"Split to score: {', '.join(SPLITS)}."),
    layout: str = typer.Option(None, "--layout", help=f"Force a dataset layout: {', '.join(READ_LAYOUTS)}."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", "-b", help="Images per forward pass (default: 1 on CPU, 4 on CUDA)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    workers: int = typer.Option(
        None, "--workers", help="Image-loading processes (default: 0 on CPU, 4 on CUDA)."
    ),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", help="Resamples over images for the 95% CIs (0: none)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    split_by: str = SPLIT_BY_AS_TRAINED,
    val_sequences: str = VAL_SEQUENCES,
    test_sequences: str = TEST_SEQUENCES,
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Leave out (and list) unreadable samples instead of stopping."
    ),
    cache: str = CACHE,
    condition: str = CONDITION,
    class_map: str = CLASS_MAP,
    corrupt: str = CORRUPT,
    severity: str = SEVERITY,
    corrupt_seed: int = CORRUPT_SEED,
    reference: Path = typer.Option(
        None, "--reference", help="With --corrupt: a checkpoint to score corruption degradation (CD) against."
    ),
    out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder; reports go to OUT/eval/."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout instead of tables."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    threads: str = THREADS,
) -> None:
    """Score a checkpoint on a dataset split at each label's own resolution."""
    use_threads(threads)  # before torch loads: OpenMP reads its thread count once
    check_options(batch_size=batch_size, workers=workers, bootstrap=bootstrap, seed=seed)
    check_file(checkpoint)  # names, files and folders before torch loads
    check_choice("--split", split, SPLITS)
    if layout is not None:
        check_choice("--layout", layout, READ_LAYOUTS)
    check_choice("--cache", cache, CACHE_MODES)
    if split_by is not None:
        check_choice("--split-by", split_by, SPLIT_BY)
    if data is not None:
        check_data_folder("--data", data)
    check_device(device)
    check_out(out)
    names = parse_corrupt(corrupt) if corrupt else ()
    severities = parse_severity(severity) if corrupt else ()
    if reference is not None and not corrupt:
        raise CamsegError("--reference needs --corrupt: it is the baseline of corruption degradation")
    if reference is not None:
        check_file(reference)
    from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint, write_reports
    from camseg_cli.core.evaluation.scoring.robustness import robustness, write_robustness

    make_folder(out / "eval")  # an unwritable --out fails now, not after the evaluation
    reporter = Reporter(quiet=quiet or as_json)
    rob = ref = None
    with reporter.session():
        result = evaluate_checkpoint(
            checkpoint,
            data,
            split,
            batch_size,
            device,
            bootstrap,
            seed,
            layout,
            workers,
            track=reporter.track,
            split_by=split_by,
            val_sequences=val_sequences,
            test_sequences=test_sequences,
            skip_bad=skip_bad,
            cache=cache,
            cache_dir=out / "cache",
            conditions=condition,
            class_map=class_map,
        )
        paths = write_reports(result, out)
        if names:
            shared = {
                "batch_size": batch_size, "device": device, "layout": layout, "workers": workers,
                "track": reporter.track, "split_by": split_by, "val_sequences": val_sequences,
                "test_sequences": test_sequences, "skip_bad": skip_bad, "cache": cache,
                "cache_dir": out / "cache", "conditions": condition, "class_map": class_map,
            }  # fmt: skip
            args = (names, severities, corrupt_seed, split, data, out)
            rob = robustness(checkpoint, *args, clean=result, **shared)
            ref = robustness(reference, *args, **shared) if reference else None
            paths += write_robustness(rob, out, ref)
    if as_json:
        print_json(result.to_json() | ({"robustness": rob.to_json(ref)} if rob else {}))
        return
    console.print(class_table(result))
    for line in summary_lines(result):
        console.print(line, highlight=False)
    if result.dependence is not None and result.dependence.flagged:
        warning = result.dependence.warning(result.run)
        console.print(f"[bold red]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if rob is not None:
        console.print(robustness_table(rob, ref))
        for line in robustness_lines(rob, ref):
            console.print(line, highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False, soft_wrap=True)
