"""`camseg corrupt-preview`: one frame under each corruption of the robustness suite at severities 1-5."""

from __future__ import annotations

import typer

from camseg_cli.app import command, console
from camseg_cli.core.choices import CORRUPTION_FAMILIES
from camseg_cli.core.cpus import use_threads
from camseg_cli.core.data.corruption.names import parse_corrupt
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.samples import SPLITS
from camseg_cli.options import DATA_REQUIRED, LAYOUT, THREADS


@command("corrupt-preview")
def corrupt_preview_cmd(
    data: str = DATA_REQUIRED,
    layout: str = LAYOUT,
    corrupt: str = typer.Option(
        "all", "--corrupt", help=f"all, a family ({', '.join(CORRUPTION_FAMILIES)}) or corruption names."
    ),
    split: str = typer.Option("test", "--split", help=f"{', '.join(SPLITS)}."),
    index: int = typer.Option(0, "--index", help="Which frame of the split."),
    seed: int = typer.Option(0, "--seed", help="Seed of the corruptions' random draws."),
    output: str = typer.Option("out/corrupt-preview.png", "--out", "--output", help="PNG to write."),
    threads: str = THREADS,
) -> None:
    """Show what each corruption does at severities 1-5 on one frame."""
    use_threads(threads)  # before OpenCV loads: it reads its thread count once
    names = parse_corrupt(corrupt)  # before the heavy libraries load
    from camseg_cli.core.data.corruption.preview import write_corrupt_preview

    info = open_dataset(data, layout)
    path = write_corrupt_preview(output, info, names, split, index, seed)
    console.print(f"corruption preview: {path}", highlight=False)
