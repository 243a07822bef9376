"""`camseg stats`: class pixel counts and frequencies per split, class weights, dark images."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from camseg_cli.app import command, console, print_json
from camseg_cli.core.checks import check_options
from camseg_cli.core.choices import DARK_THRESHOLD, VOID_TAG
from camseg_cli.core.cpus import use_threads
from camseg_cli.core.data.sources import splits as core_splits
from camseg_cli.core.data.sources.layouts import READ_LAYOUTS, open_dataset
from camseg_cli.core.data.sources.samples import DatasetInfo
from camseg_cli.core.files import save_figure, write_csv
from camseg_cli.core.suggest import check_choice, check_data_folder, check_out
from camseg_cli.options import (
    AS_JSON,
    DATA_REQUIRED,
    LAYOUT,
    OUT,
    QUIET,
    SPLIT_BY,
    TEST_SEQUENCES,
    THREADS,
    VAL_SEQUENCES,
)
from camseg_cli.progress import Reporter

if TYPE_CHECKING:  # pandas and core.stats load when the command runs, not with `camseg --help`
    import pandas as pd

    from camseg_cli.core.data.sources import stats as core_stats


def _counts_table(st: core_stats.DatasetStats) -> Table:
    void = st.info.classes.void
    n = len(st.class_names) - (void is not None)
    table = Table(
        title=f"{st.info.root} — {st.info.layout} layout, {n} classes"
        + (" + void" if void is not None else "")
    )
    table.add_column("class")
    for split in st.splits:
        table.add_column(f"{split} pixels", justify="right")
        table.add_column("%", justify="right")
    order = [i for i in range(len(st.class_names)) if i != void] + ([void] if void is not None else [])
    for i in order:
        name = st.class_names[i]
        if i == void:
            table.add_section()  # void apart, below the classes that are scored
        cells = [f"{name} ({VOID_TAG})" if i == void else name]
        for s in st.splits.values():
            total = max(int(s.pixels.sum()), 1)
            cells += [f"{int(s.pixels[i]):,}", f"{100 * s.pixels[i] / total:.2f}"]
        absent = all(s.pixels[i] == 0 for s in st.splits.values())
        table.add_row(*cells, style="dim" if absent else None)
    return table


def _splits_table(st: core_stats.DatasetStats) -> Table:
    table = Table(title="splits")
    for col in ("split", "images", "sizes (WxH)", "void %", "dark images"):
        table.add_column(col, justify="right" if col not in ("split", "sizes (WxH)") else "left")
    for split, s in st.splits.items():
        sizes = ", ".join(f"{k} x{n}" for k, n in s.sizes.items())
        table.add_row(split, str(s.images), sizes, f"{100 * st.void_fraction(split):.2f}", str(len(s.dark)))
    return table


def _weights_table(frame: pd.DataFrame, void: str | None) -> Table:
    table = Table(title="class weights (train split, void excluded)")
    for col in ("class", "frequency", "median-freq", "enet"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for row in frame.itertuples():
        if row[1] == void:  # not scored, weight 0: the CSV keeps it, the table says it is left out
            continue
        table.add_row(row[1], f"{row.frequency:.4f}", f"{row.median:.3f}", f"{row.enet:.3f}")
    return table


def _leakage_table(report: dict) -> Table:
    t = report["threshold"]
    table = Table(title=f"near-duplicates of train images (perceptual hash distance <= {t} of 64 bits)")
    for col in ("split", "images", "near-duplicates", "%", "median distance", "sequences shared with train"):
        table.add_column(col, justify="left" if col in ("split", "sequences shared with train") else "right")
    for split, s in report["splits"].items():
        shared = ", ".join(s["sequences_shared_with_train"]) or "none"
        pct = f"{100 * s['fraction']:.1f}"
        table.add_row(
            split, str(s["images"]), str(s["near_duplicates"]), pct, f"{s['median_distance']:g}", shared
        )
    return table


def _sequences_line(info: DatasetInfo) -> str:
    parts = []
    for split, seqs in core_splits.sequences_by_split(info).items():
        if len(seqs) > 8:
            parts.append(f"{split}: {len(seqs)} sequences")
        else:
            parts.append(f"{split}: " + ", ".join(f"{q} ({n})" for q, n in sorted(seqs.items())))
    return "sequences — " + "; ".join(parts)


@command("stats")
def stats_cmd(
    data: Path = DATA_REQUIRED,
    layout: str = LAYOUT,
    out: Path = OUT,
    dark_threshold: float = typer.Option(
        DARK_THRESHOLD,
        "--dark-threshold",
        help="Mean luminance (0-255) below which an image is dark.",
    ),
    split_by: str = SPLIT_BY,
    val_sequences: str = VAL_SEQUENCES,
    test_sequences: str = TEST_SEQUENCES,
    leakage: bool = typer.Option(
        False, "--leakage", help="Count val/test images with a near-duplicate in train (perceptual hash)."
    ),
    leakage_threshold: int = typer.Option(
        core_splits.DEFAULT_LEAK_THRESHOLD,
        "--leakage-threshold",
        help="Max hash distance (of 64 bits) to count.",
    ),
    as_json: bool = AS_JSON,
    quiet: bool = QUIET,
    threads: str = THREADS,
) -> None:
    """Class pixel counts and frequencies per split, class weights, and a dark-image report (OUT/stats/)."""
    use_threads(threads)  # before numpy's BLAS and OpenCV load: they read their thread counts once
    check_data_folder("--data", data)
    check_out(out)
    if layout is not None:
        check_choice("--layout", layout, READ_LAYOUTS)
    check_choice("--split-by", split_by, core_splits.SPLIT_BY)
    check_options(dark_threshold=dark_threshold, leakage_threshold=leakage_threshold)
    import pandas as pd

    from camseg_cli.core.data.sources import stats as core_stats

    info = open_dataset(data, layout, split_by, val_sequences, test_sequences)
    reporter = Reporter(quiet=quiet or as_json)
    with reporter.session():
        st = core_stats.dataset_stats(info, dark_threshold=dark_threshold, track=reporter.track)
        leaks = core_splits.leakage_report(info, leakage_threshold, reporter.track) if leakage else None
    weights, missing = st.weights_frame()
    dest = out / "stats"
    write_csv(dest / "class_counts.csv", st.counts_frame())
    write_csv(dest / "class_weights.csv", weights)
    save_figure(dest / "class_counts.png", core_stats.plot_counts(st))
    if leaks is not None:
        write_csv(
            dest / "leakage.csv",
            pd.DataFrame(leaks["images"], columns=["split", "image", "nearest", "distance"]),
        )
    if as_json:
        doc = st.to_json()
        doc["class_weights"] = {
            m: dict(zip(weights["class"], weights[m].astype(float))) for m in ("median", "enet")
        }
        doc["class_frequency"] = dict(zip(weights["class"], weights["frequency"].astype(float)))
        doc["missing_classes"] = missing
        doc["split_by"] = split_by
        doc["sequences"] = core_splits.sequences_by_split(info)
        if leaks is not None:
            doc["leakage"] = leaks
        print_json(doc)
        return
    console.print(_counts_table(st))
    console.print(_splits_table(st))
    console.print(_sequences_line(info), highlight=False, soft_wrap=True)
    if leaks is not None:
        console.print(_leakage_table(leaks))
    console.print(_weights_table(weights, info.classes.void_name))
    if missing:
        console.print(
            f"[yellow]warning:[/] {len(missing)} class(es) have no train pixels, weight 0: "
            + ", ".join(missing),
            highlight=False,
        )
    for split, s in st.splits.items():
        for path, lum in s.dark:
            console.print(f"dark ({split}): {path}  mean luminance {lum:.1f}", highlight=False)
    extra = ", leakage.csv" if leaks is not None else ""
    console.print(
        f"wrote {dest}/class_counts.csv, class_weights.csv, class_counts.png{extra}", highlight=False
    )
