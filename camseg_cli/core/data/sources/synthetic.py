"""The built-in dataset: synthetic street scenes (core/scene.py) written in any layout with splits.

Deterministic for a seed: image i is drawn from default_rng([seed, i]), whatever the image count.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from PIL import Image

from camseg_cli.core.cpus import pool_size
from camseg_cli.core.data.classes.labels import encode_rgb_mask
from camseg_cli.core.data.classes.maps import ClassMap, preset, write_class_dict, write_codes
from camseg_cli.core.data.sources.layouts import LAYOUTS
from camseg_cli.core.data.sources.scene import DARK_FRACTION, check_size, render_scene, role_classes
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.files import write_text, write_with

__all__ = [
    "check_size",
    "frame_name",
    "is_dark",
    "render_scene",
    "role_classes",
    "split_counts",
    "write_dataset",
]

# ------------------------------------------------------------------------------------------ writing

MARKER = "camseg-synthetic.json"  # marks a folder as ours, so a rerun may overwrite what it lists
# CamVid's sequence prefixes and frame-number styles; frames come in runs from one sequence.
SEQUENCES = (("0001TP", "{:06d}", 6690), ("0006R0", "f{:05d}", 930), ("0016E5", "{:05d}", 7959),
             ("Seq05VD", "f{:05d}", 0))  # fmt: skip
RUN = 4  # consecutive frames per sequence run: short, so even 12 images span 3 sequences


def frame_name(index: int) -> str:
    """CamVid-style name of frame `index`, e.g. 0001TP_006690; frames 0-3 share a sequence, 4-7 the next."""
    run, k = divmod(index, RUN)
    prefix, fmt, start = SEQUENCES[run % len(SEQUENCES)]
    return f"{prefix}_{fmt.format(start + 30 * ((run // len(SEQUENCES)) * RUN + k))}"


def is_dark(seed: int, index: int) -> bool:
    """Whether frame `index` is a night frame: evenly spread, DARK_FRACTION of frames, phase set by seed."""
    phase = (seed * 0.6180339887) % 1.0
    return int((index + 1) * DARK_FRACTION + phase) > int(index * DARK_FRACTION + phase)


def split_counts(images: int, split: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> dict[str, int]:
    """Images per split; each split gets at least one, so at least 3 images are needed."""
    if images < 3:
        raise CamsegError(f"--images {images}: need at least 3, one each for train, val and test")
    if len(split) != 3 or min(split) < 0 or sum(split) <= 0:
        raise CamsegError(f"split {split} must be three non-negative fractions (train, val, test)")
    val, test = (max(1, round(images * p / sum(split))) for p in split[1:])
    while val + test > images - 1:  # train keeps at least one image
        val, test = (val - 1, test) if val >= test else (val, test - 1)
    return {"train": images - val - test, "val": val, "test": test}


def _paths(layout: str, split: str, name: str) -> tuple[str, str]:
    """Image and mask path of one frame, relative to the dataset root."""
    if layout == "fastai":
        return f"images/{name}.png", f"labels/{name}_P.png"
    if layout == "rgb":
        return f"{split}/{name}.png", f"{split}_labels/{name}_L.png"
    return f"{split}/{name}.png", f"{split}annot/{name}.png"


def _our_files(dest: Path) -> list[Path] | None:
    """Files an earlier write_dataset listed in dest's marker; None if dest is not ours."""
    try:
        meta = json.loads((dest / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = meta.get("files") if isinstance(meta, dict) and meta.get("format") == "camseg-synthetic" else None
    if not isinstance(files, list):
        return None
    # only plain relative paths inside dest, whatever the marker says
    return [
        dest / f
        for f in files
        if isinstance(f, str) and not Path(f).is_absolute() and ".." not in Path(f).parts
    ]


def _claim(dest: Path, files: list[str], meta: dict) -> None:
    """Refuse a non-empty folder that is not ours; else delete our earlier files and mark it ours."""
    if dest.exists() and not dest.is_dir():
        raise CamsegError(f"{dest}: exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()):
        old = _our_files(dest)
        if old is None:
            raise CamsegError(
                f"{dest}: folder is not empty and not a camseg synthetic dataset — choose a new one"
            )
        for path in old:
            path.unlink(missing_ok=True)
        for sub in sorted({p.parent for p in old}, reverse=True):  # deepest first; only emptied ones
            if sub != dest and sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
    # The marker goes first, so an interrupted run leaves a folder the next run may overwrite.
    write_text(dest / MARKER, json.dumps({**meta, "files": files}, indent=1) + "\n")


def _save_png(path: Path, array: np.ndarray) -> None:
    """PNG via a temp file and os.replace: an interrupted run never leaves half an image."""
    tmp = path.with_name(f".{path.name}.tmp")  # not an image extension, so readers skip leftovers
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(tmp, format="PNG", compress_level=1)  # speed over a few % of size
        os.replace(tmp, path)
    except OSError as e:
        raise CamsegError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)


def _write_frame(
    dest: Path, paths: tuple[str, str], layout: str, cmap: ClassMap, seed: int, i: int, size: tuple[int, int]
) -> None:
    """Render frame i and write its image and mask (top level: runs in a worker process)."""
    image, mask = render_scene(np.random.default_rng([seed, i]), size, cmap, is_dark(seed, i))
    _save_png(dest / paths[0], image)
    _save_png(dest / paths[1], encode_rgb_mask(mask, cmap) if layout == "rgb" else mask.astype(np.uint8))


def write_dataset(
    dest: Path | str,
    layout: str = "rgb",
    images: int = 12,
    size: tuple[int, int] = (180, 240),
    seed: int = 0,
    classes: str = "camvid32",
    split: tuple[float, float, float] = (0.6, 0.2, 0.2),
    workers: int | None = None,
    track: Callable[[Iterable, str], Iterable] | None = None,
) -> Path:
    """Write a dataset in `layout` (rgb|index|fastai, exactly the layouts data.py reads) and return dest.

    Frame i is rendered from default_rng([seed, i]), so it is the same whatever `images` is or which
    process renders it; splits are contiguous runs of frames (train first). dest must be empty, new, or
    an earlier synthetic dataset, whose files (listed in camseg-synthetic.json) are replaced. Frames
    render in `workers` processes (default: up to 8 when there are over 2 megapixels to render, about
    3 s of work on one core); `track(iterable, description)` wraps the frames as they finish.
    """
    if layout not in LAYOUTS:
        raise CamsegError(f"unknown layout {layout!r} — choose one of {', '.join(LAYOUTS)}")
    if seed < 0:
        raise CamsegError(f"--seed {seed}: must be zero or positive")
    check_size(size)
    cmap = preset(classes)
    counts = split_counts(images, split)
    splits = [part for part, n in counts.items() for _ in range(n)]  # contiguous runs, train first
    plan = [_paths(layout, part, frame_name(i)) for i, part in enumerate(splits)]  # plan[i] is frame i
    class_file = "codes.txt" if layout == "fastai" else "class_dict.csv"
    extra = [class_file] if layout != "index" or classes != "camvid11" else []  # index reads camvid11 bare
    extra += ["valid.txt", "test.txt"] if layout == "fastai" else []
    dest = Path(dest)
    meta = {"format": "camseg-synthetic", "version": 1, "layout": layout, "images": images,
            "size": list(size), "seed": seed, "classes": classes, "split": counts}  # fmt: skip
    _claim(dest, [MARKER, *extra, *(p for pair in plan for p in pair)], meta)
    if workers is None:
        workers = pool_size(8) if images * size[0] * size[1] > 2_000_000 else 1
    frames = [(dest, paths, layout, cmap, seed, i, size) for i, paths in enumerate(plan)]
    with ProcessPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        done = pool.map(_write_frame, *zip(*frames)) if pool else map(_write_frame, *zip(*frames))
        for _ in track(done, "synth") if track else done:
            pass
    if class_file in extra:
        writer = write_codes if layout == "fastai" else write_class_dict
        write_with(dest / class_file, lambda p: writer(cmap, p))
    for part, fname in (("val", "valid.txt"), ("test", "test.txt")) if layout == "fastai" else ():
        write_text(dest / fname, "".join(f"{frame_name(i)}.png\n" for i, s in enumerate(splits) if s == part))
    return dest
