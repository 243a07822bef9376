"""`camseg synth`: write the built-in procedural street-scene dataset in any layout."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from camseg_cli.app import command, console
from camseg_cli.core.checks import check_options
from camseg_cli.core.data.classes.maps import PRESETS
from camseg_cli.core.data.sources.cityscapes import CONDITIONS, CS_LAYOUTS
from camseg_cli.core.data.sources.layouts import LAYOUTS
from camseg_cli.core.data.sources.synthetic import split_counts, write_dataset
from camseg_cli.core.data.sources.synthetic_cityscapes import write_cityscapes_family
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.sizes import parse_size
from camseg_cli.core.suggest import check_choice
from camseg_cli.options import QUIET
from camseg_cli.progress import Reporter


@command("synth")
def synth_cmd(
    dest: Path = typer.Argument(
        ..., help="Folder to create (must be new, empty, or an earlier synth output)."
    ),
    layout: str = typer.Option("rgb", "--layout", help=f"On-disk layout: {', '.join(LAYOUTS + CS_LAYOUTS)}."),
    images: int = typer.Option(24, "--images", "-n", help="Number of images (at least 3)."),
    size: str = typer.Option("180x240", "--size", help="Image size HEIGHTxWIDTH."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same images, byte for byte."),
    classes: str = typer.Option("camvid32", "--classes", help=f"Class preset: {', '.join(PRESETS)}."),
    workers: int = typer.Option(
        None, "--workers", help="Rendering processes (default: up to 8 for big datasets, else 1)."
    ),
    condition: str = typer.Option(
        None, "--condition", help=f"acdc layout: conditions to write ({','.join(CONDITIONS)}; default all)."
    ),
    quiet: bool = QUIET,
) -> None:
    """Write a CamVid-like synthetic street-scene dataset (no download needed)."""
    check_choice("--layout", layout, LAYOUTS + CS_LAYOUTS)
    check_choice("--classes", classes, PRESETS)
    check_options(images=images, seed=seed, workers=workers)
    hw = parse_size(size)
    if workers is not None and workers < 1:
        raise CamsegError(f"--workers must be at least 1, got {workers}")
    start = time.perf_counter()
    reporter = Reporter(quiet=quiet)
    if layout in CS_LAYOUTS:
        with reporter.session():
            write_cityscapes_family(
                dest, layout=layout, images=images, size=hw, seed=seed, conditions=condition,
                workers=workers, track=lambda frames, what: reporter.track(frames, what),
            )  # fmt: skip
        what = f"{layout} layout, Cityscapes-19" + (", per condition" if layout == "acdc" else "")
        console.print(f"wrote {images} synthetic {hw[0]}x{hw[1]} images to {dest} ({what})", highlight=False)
        return
    if condition:
        raise CamsegError("--condition applies to --layout acdc only")
    with reporter.session():
        write_dataset(
            dest, layout=layout, images=images, size=hw, seed=seed, classes=classes, workers=workers,
            track=lambda frames, what: reporter.track(frames, what, total=images),
        )  # fmt: skip
    counts = ", ".join(f"{split} {n}" for split, n in split_counts(images).items())
    console.print(
        f"wrote {images} synthetic {hw[0]}x{hw[1]} images to {dest} ({layout} layout, {classes}): "
        f"{counts} in {time.perf_counter() - start:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
