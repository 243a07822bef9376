"""`camseg augment-preview`: a PNG grid of augmented image + mask pairs, one row per preset."""

from __future__ import annotations

import typer

from camseg_cli.app import command, console
from camseg_cli.core.choices import AUG_PRESETS
from camseg_cli.core.data.layouts import READ_LAYOUTS, open_dataset
from camseg_cli.core.data.samples import SPLITS
from camseg_cli.core.sizes import parse_size


@command("augment-preview")
def augment_preview_cmd(
    data: str = typer.Option(..., "--data", "-d", help="Dataset folder (rgb, index or fastai layout)."),
    layout: str = typer.Option(None, "--layout", help=f"Force a layout: {', '.join(READ_LAYOUTS)}."),
    aug: str = typer.Option(
        ",".join(AUG_PRESETS), "--aug", help="One row per comma item; '+' combines presets."
    ),
    size: str = typer.Option("360x480", "--size", help="Training size HxW."),
    samples: int = typer.Option(4, "--samples", "-n", help="Images per row."),
    split: str = typer.Option("train", "--split", help=f"{', '.join(SPLITS)}."),
    seed: int = typer.Option(0, "--seed"),
    output: str = typer.Option("out/augment-preview.png", "--output", help="PNG to write."),
) -> None:
    """Show what each augmentation preset does: image and mask must still line up in every cell."""
    from camseg_cli.core.data.augment import split_sweep
    from camseg_cli.core.data.preview import write_preview

    info = open_dataset(data, layout)
    path = write_preview(output, info, split_sweep(aug), parse_size(size), samples, seed, split)
    console.print(f"augmentation preview: {path}", highlight=False)
