"""`camseg augment-preview`: a PNG grid of augmented image + mask pairs, one row per preset or file."""

from __future__ import annotations

from pathlib import Path

import typer

from camseg_cli.app import command, console, err_console
from camseg_cli.core.checks import check_options
from camseg_cli.core.choices import AUG_PRESETS
from camseg_cli.core.cpus import use_threads
from camseg_cli.core.data.augment.names import is_pipeline, split_sweep
from camseg_cli.core.data.sources.layouts import READ_LAYOUTS, open_dataset
from camseg_cli.core.data.sources.samples import SPLITS
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.sizes import parse_size
from camseg_cli.core.suggest import check_choice, check_data_folder, check_out
from camseg_cli.options import DATA, LAYOUT, OUT, THREADS


@command("augment-preview")
def augment_preview_cmd(
    data: str = DATA,
    layout: str = LAYOUT,
    aug: str = typer.Option(
        ",".join(AUG_PRESETS),
        "--aug",
        help="One row per comma item; '+' combines presets; an albumentations pipeline file (A.save).",
    ),
    size: str = typer.Option("360x480", "--size", help="Training size HxW."),
    samples: int = typer.Option(4, "--samples", "-n", help="Images per row."),
    split: str = typer.Option("train", "--split", help=f"{', '.join(SPLITS)}."),
    seed: int = typer.Option(0, "--seed"),
    out: Path = OUT,
    output: str = typer.Option(
        None, "--output", hidden=True, help="Deprecated: the PNG to write; use --out."
    ),
    write: Path = typer.Option(
        None, "--write", help="Write the --aug preset as a pipeline file (.json/.yaml) and stop."
    ),
    threads: str = THREADS,
) -> None:
    """Show what each augmentation does: image and mask must still line up in every cell (the grid goes to
    OUT/augment-preview.png)."""
    use_threads(threads)  # before albumentations loads OpenCV: it reads its thread count once
    augs = split_sweep(aug)  # names, split and folder checked before albumentations loads
    hw = parse_size(size)
    if write is not None:
        if len(augs) != 1 or is_pipeline(augs[0]):
            raise CamsegError("--write takes one preset combination as --aug, e.g. --aug flip+jitter")
        from camseg_cli.core.data.augment.presets import write_preset_pipeline

        path = write_preset_pipeline(write, augs[0], hw)
        console.print(f"pipeline file: {path} (train it with --aug {path})", highlight=False, soft_wrap=True)
        return
    from camseg_cli.core.train.aug_source import read_pipeline

    rows = [(Path(a).stem, read_pipeline(a)) if is_pipeline(a) else a for a in augs]  # checked, once
    check_options(samples=samples, seed=seed)
    if layout is not None:
        check_choice("--layout", layout, READ_LAYOUTS)
    check_choice("--split", split, SPLITS)
    if data is None:
        raise CamsegError("--data is needed to draw a preview (or --write FILE to write a preset)")
    check_data_folder("--data", data)
    if output is None:
        check_out(out)
    else:
        err_console.print(
            "[yellow]--output is deprecated:[/] use --out DIR (writes DIR/augment-preview.png), as every "
            "command does",
            highlight=False,
            soft_wrap=True,
        )
    from camseg_cli.core.data.augment.preview import write_preview

    info = open_dataset(data, layout)
    dest = Path(output) if output is not None else out / "augment-preview.png"
    path = write_preview(dest, info, rows, hw, samples, seed, split)
    console.print(f"augmentation preview: {path}", highlight=False)
