"""`camseg compare`: rank runs, test each against a baseline on the same images, write a report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from camseg_cli.app import command, console, print_json
from camseg_cli.core.choices import SLICES
from camseg_cli.core.cpus import use_threads
from camseg_cli.core.data.corruption.names import parse_corrupt, parse_severity
from camseg_cli.core.data.sources.samples import SPLITS
from camseg_cli.core.evaluation.compare.config import CompareConfig
from camseg_cli.core.evaluation.scoring.config import Corruption, EvalConfig
from camseg_cli.core.evaluation.scoring.slices import check_slices
from camseg_cli.core.files import fmt_number
from camseg_cli.core.suggest import check_choices
from camseg_cli.options import (
    AS_JSON,
    BATCH_SIZE,
    CACHE,
    CLASS_MAP,
    CONDITION,
    CORRUPT,
    CORRUPT_SEED,
    DATA_AS_EACH_RECORDED,
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

if TYPE_CHECKING:  # torch and pandas load when the command runs, not with `camseg --help`
    from camseg_cli.core.evaluation.compare.comparison import Comparison
    from camseg_cli.core.evaluation.compare.shift_table import RobustComparison
    from camseg_cli.core.evaluation.compare_run import CompareRun


def arm_table(c: Comparison) -> Table:
    """One row per arm: its seeds, mean and SD of mIoU, and the paired t over seeds against the baseline."""
    from camseg_cli.core.evaluation.compare.verdicts import arm_cells
    from camseg_cli.core.evaluation.stats.study import POPULATION

    n = c.baseline.result.num_images
    table = Table(title=f"arms on {c.split} ({n} images) — baseline arm {c.baseline_arm.name}")
    table.caption = f"Δ in mIoU points, paired t over shared seeds: about {POPULATION}"
    cols = (
        "arm",
        "seeds",
        "mean mIoU",
        "SD",
        "per seed",
        "Δ pts",
        "Δ 95% CI",
        "p",
        "Holm p",
        "P(>base)",
        "test",
    )
    for col in cols:
        table.add_column(col, justify="left" if col in ("arm", "per seed", "Δ 95% CI", "test") else "right")
    for r in sorted(c.arms, key=lambda r: -r.arm.miou_mean):
        per_seed, mean, sd, *test = arm_cells(r)  # the console puts mean and SD before the seeds' list
        cells = [r.arm.name, " ".join("?" if s is None else str(s) for s in r.arm.seeds), mean, sd, per_seed]
        table.add_row(*cells, *test, style="bold" if r.test is None else None)
    return table


def short_names(c: Comparison) -> dict[str, str]:
    """Run name -> what sets the run apart: its arm (aug and differing settings) and seed, not the
    architecture and other settings every run shares (Rich cut long names to one common prefix)."""
    seed = {r.run: r.seed for r in c.results.itertuples()}
    out = {}
    for r in c.results.itertuples():
        s = seed[r.run]
        out[r.run] = r.arm if s is None or s != s else f"{r.arm} s{int(s)}"
    if len(set(out.values())) < len(out):  # two runs of one arm and seed: only the full name tells
        return {k: k for k in out}
    return out


def robust_table(rc: RobustComparison) -> Table:
    """Arms as rows; clean, each corruption family, the suite and each slice as columns."""
    from camseg_cli.core.evaluation.reports.robustness import table_rows

    header, rows = table_rows(rc)
    table = Table(title=f"under shift — Δ mIoU points vs {rc.baseline}, Holm over {rc.tests} tests")
    for col in header:
        table.add_column(col, justify="left" if col == "arm" else "right")
    for row in rows:
        cells = [c.replace("helps", "[green]helps[/]").replace("hurts", "[red]hurts[/]") for c in row[1:]]
        table.add_row(escape(row[0]), *cells, style="bold" if row[0] == rc.baseline else None)
    return table


def ranking_table(c: Comparison) -> Table:
    """reports.tables' ranking, with the columns every run shares (the architecture, often) left out."""
    from camseg_cli.core.evaluation.reports.tables import RANK_COLUMNS, ranking_rows

    n = c.baseline.result.num_images
    table = Table(title=f"runs on {c.split} ({n} images) — each against the baseline arm's run of its seed")
    rows = ranking_rows(c, short_names(c))
    keep = [
        i for i, col in enumerate(RANK_COLUMNS) if col not in ("arch", "aug") or len({r[i] for r in rows}) > 1
    ]
    for i in keep:
        col = RANK_COLUMNS[i]
        just = "left" if col in ("run", "aug", "95% CI", "Δ 95% CI") else "right"
        table.add_column("#" if col == "rank" else col, justify=just)  # narrow: the terminal is
    for i, row in enumerate(rows):
        table.add_row(*(escape(row[k]) for k in keep), style="bold green" if i == 0 else None)
    if c.results.still_improving.any():
        table.caption = "epochs ↑: best epoch = last epoch, still improving"
    return table


def condition_table(c: Comparison) -> Table:
    """One row per (ACDC condition, arm): the arm test on that condition's images alone."""
    from camseg_cli.core.evaluation.reports.tables import CONDITION_COLUMNS, condition_rows

    table = Table(title=f"arms per condition on {c.split} — baseline arm {c.baseline_arm.name}")
    for col in CONDITION_COLUMNS:
        table.add_column(col, justify="left" if col in ("condition", "arm", "Δ 95% CI") else "right")
    for row in condition_rows(c.conditions):
        table.add_row(*map(escape, row))
    return table


def class_table(c: Comparison) -> Table:
    from camseg_cli.core.evaluation.compare.comparison import best_run

    frame = c.per_class.dropna(how="all")
    short = short_names(c)
    table = Table(title="per-class IoU (best per class in green)")
    table.add_column("class")
    for run in frame.columns:
        table.add_column(short[run], justify="right")
    for cls, row in frame.iterrows():
        best = best_run(row)
        table.add_row(
            cls, *[f"[green]{fmt_number(v)}[/]" if k == best else fmt_number(v) for k, v in row.items()]
        )
    return table


def _one_run(c: Comparison) -> None:
    """A single run is described (mIoU with its CI), not ranked against itself in empty columns."""
    r = next(c.results.itertuples())
    console.print(
        f"{escape(r.run)} on {c.split} ({c.baseline.result.num_images} images): mIoU {fmt_number(r.miou)} "
        f"(95% CI {fmt_number(r.miou_lo)}–{fmt_number(r.miou_hi)}), pixel accuracy {fmt_number(r.pixel_acc)}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"[yellow]{escape(c.notes[-1])}[/]", highlight=False, soft_wrap=True)


@command("compare")
def compare_cmd(
    checkpoints: list[Path] = typer.Argument(..., help="Checkpoints to compare, e.g. out/*.pt."),
    data: Path = DATA_AS_EACH_RECORDED,
    split: str = typer.Option("test", "--split", help=f"Split to compare on: {', '.join(SPLITS)}."),
    layout: str = LAYOUT,
    baseline: str = typer.Option(
        None, "--baseline", help="Run to compare against (default: the aug=none run)."
    ),
    bootstrap: int = typer.Option(
        1000,
        "--bootstrap",
        help="Bootstrap resamples: run CIs, checkpoint-vs-checkpoint tests (arms: t over seeds).",
    ),
    block: int = typer.Option(
        None, "--block", help="Test images resampled in blocks of N consecutive frames (default: n^(1/3))."
    ),
    min_effect: float = typer.Option(
        0.5,
        "--min-effect",
        help="mIoU points: a CI within ± this is negligible; a class moving Δ more is flagged.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap draws."),
    split_by: str = SPLIT_BY_AS_TRAINED,
    val_sequences: str = VAL_SEQUENCES,
    test_sequences: str = TEST_SEQUENCES,
    condition: str = CONDITION,
    class_map: str = CLASS_MAP,
    samples: int = typer.Option(6, "--samples", help="Test images in samples.png (0: none)."),
    skip_bad: bool = SKIP_BAD,
    batch_size: int | None = BATCH_SIZE,
    device: str = DEVICE,
    workers: int | None = WORKERS,
    cache: str = CACHE,
    corrupt: str = CORRUPT,
    severity: str = SEVERITY,
    corrupt_seed: int = CORRUPT_SEED,
    slice_: str = SLICE,
    out: Path = OUT,
    as_json: bool = AS_JSON,
    quiet: bool = QUIET,
    threads: str = THREADS,
) -> None:
    """Rank runs by mIoU with CIs, test each arm against the baseline arm over seeds, write a report."""
    use_threads(threads)  # before torch loads: OpenMP reads its thread count once
    cfg = CompareConfig(
        tuple(checkpoints),
        EvalConfig(data, split, layout, split_by, val_sequences, test_sequences, condition, class_map,
                   skip_bad, batch_size, device, workers, cache, bootstrap, seed, out),
        baseline, block, min_effect, samples,
    ).check()  # fmt: skip
    names = parse_corrupt(corrupt) if corrupt else ()  # bad specs fail before torch loads
    severities = parse_severity(severity) if corrupt else ()
    check_choices("--slice", slice_ or "", SLICES)
    cfg = cfg.replace(corruption=Corruption(names, severities, corrupt_seed), slices=check_slices(slice_))
    from camseg_cli.core.evaluation.compare_run import run_compare

    reporter = Reporter(quiet=quiet or as_json)
    with reporter.session():
        done = run_compare(cfg, reporter.track)
    if as_json:
        print_json(done.to_json())
    else:
        render(done, out)


def render(done: CompareRun, out: Path) -> None:
    """Warnings, tables and lines of one comparison, on the terminal."""
    from camseg_cli.core.evaluation.reports.report import shift_text

    comparison, rc = done.comparison, done.robust
    for line in comparison.ignores_input:
        console.print(f"[bold red]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if done.one_run:  # no report of empty columns: the run, and how to get something to compare
        _one_run(comparison)
        console.print(
            f"1 run ({done.reused} evaluation(s) reused from {out}/eval); no report written", highlight=False
        )
        return
    console.print(arm_table(comparison))
    for r in comparison.arms:
        if r.test is not None:
            console.print(f"[bold]{escape(r.arm.name)}[/]: {escape(r.verdict)}", highlight=False)
    for line in comparison.power:
        console.print(f"power — {escape(line)}", highlight=False)
    for note in comparison.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if comparison.conditions:
        console.print(condition_table(comparison))
    if rc is not None:
        from camseg_cli.core.evaluation.reports.robustness import legend

        console.print(robust_table(rc))
        for line in legend(rc):
            console.print(escape(line), highlight=False)
    console.print(ranking_table(comparison))
    for r in comparison.results.itertuples():
        if r.never_labelled:
            console.print(
                f"[yellow]{r.run}: predicted, never labelled[/] in {comparison.split}: {r.never_labelled} "
                "(IoU 0, counted in mIoU)",
                highlight=False,
            )
    for run, s in comparison.shifts.items():
        console.print(f"{run} (IoU points, untested): {shift_text(s)}", highlight=False)
    console.print(class_table(comparison))
    console.print(
        f"{len(comparison.runs)} runs ({done.reused} evaluation(s) reused from {out}/eval); "
        f"report: {done.written[-1]}",
        highlight=False,
    )
