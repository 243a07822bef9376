"""The built-in synthetic scenes written in the Cityscapes-format layouts (cityscapes, acdc, kitti) and
bdd100k, with label ids where the real dataset stores label ids, so the whole path runs without real data.

Frame i of condition c is drawn from default_rng([seed, c, i]); splits are contiguous runs of frames.
Splits whose labels the real dataset withholds (test) are written as images only, as released.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from PIL import Image

from camseg_cli.core.cpus import pool_size
from camseg_cli.core.data.classes.cityscapes import VOID, cityscapes_classes, train_to_label_id
from camseg_cli.core.data.sources.cityscapes import CONDITIONS, CS_LAYOUTS, parse_conditions
from camseg_cli.core.data.sources.scene import check_size, render_scene
from camseg_cli.core.data.sources.synthetic import MARKER, _claim, _save_png, is_dark, split_counts
from camseg_cli.core.errors import CamsegError

CITIES = ("aachen", "bochum", "bremen", "cologne")
RUN = 4  # consecutive frames of one sequence, as in the CamVid-layout synth
Frame = tuple[str, str | None, str, str]  # image path, mask path (None: unlabelled split), kind, condition


def _names(layout: str, split: str, i: int, cond: str) -> tuple[str, str | None]:
    """Image and mask path of frame i (relative to the dataset root) in one of the layouts."""
    run, k = divmod(i, RUN)
    labelled = split != "test"
    if layout == "cityscapes":
        city = CITIES[run % len(CITIES)]
        stem = f"{city}_{run:06d}_{19 + 30 * k:06d}"
        gt = f"gtFine/{split}/{city}/{stem}_gtFine_labelIds.png" if labelled else None
        return f"leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png", gt
    if layout == "acdc":
        seq = f"GOPR{CONDITIONS.index(cond) * 100 + run:04d}"
        stem = f"{seq}_frame_{30 * k:06d}"
        gt = f"gt/{cond}/{split}/{seq}/{stem}_gt_labelIds.png" if labelled else None
        return f"rgb_anon/{cond}/{split}/{seq}/{stem}_rgb_anon.png", gt
    if layout == "kitti":
        return f"training/image_2/{i:06d}_10.png", f"training/semantic/{i:06d}_10.png"
    stem = f"{0x7D2A0000 + i:08x}-{(i * 2654435761) % (1 << 32):08x}"
    gt = f"labels/sem_seg/masks/{split}/{stem}.png" if labelled else None
    return f"images/10k/{split}/{stem}.jpg", gt


def _weather(image: np.ndarray, cond: str, rng: np.random.Generator) -> np.ndarray:
    """ACDC's conditions, roughly: fog washes towards grey, rain darkens with streaks, snow adds flakes."""
    img = image.astype(np.float32)
    h, w = img.shape[:2]
    if cond == "fog":
        img = 0.45 * img + 0.55 * 190.0
    elif cond == "rain":
        img *= 0.7
        cols = rng.integers(0, w, size=max(1, w // 6))
        for c in cols:
            y0 = int(rng.integers(0, h))
            img[y0 : y0 + max(2, h // 8), c] = 170.0
    elif cond == "snow":
        img = 0.8 * img + 40.0
        flakes = rng.random((h, w)) < 0.02
        img[flakes] = 245.0
    return np.clip(img, 0, 255).astype(np.uint8)


def _write_frame(dest: Path, frame: Frame, seed: int, cond_id: int, i: int, size: tuple[int, int]) -> None:
    """Render one frame and write its image and (label-id or train-id) mask; runs in a worker too."""
    image_path, mask_path, kind, cond = frame
    rng = np.random.default_rng([seed, cond_id, i])
    dark = cond == "night" or (not cond and is_dark(seed, i))  # ACDC: only night frames are dark
    image, mask = render_scene(rng, size, cityscapes_classes(), dark)
    image = _weather(image, cond, rng) if cond else image
    if image_path.endswith(".jpg"):
        path = dest / image_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            Image.fromarray(image).save(tmp, format="JPEG", quality=95)
            os.replace(tmp, path)
        except OSError as e:
            raise CamsegError(f"{path}: cannot write ({e.strerror or e})") from None
        finally:
            tmp.unlink(missing_ok=True)
    else:
        _save_png(dest / image_path, image)
    if mask_path is not None:
        void = cityscapes_classes().void
        ids = train_to_label_id()[mask] if kind == "labelid" else np.where(mask == void, VOID, mask)
        _save_png(dest / mask_path, ids.astype(np.uint8))


def _plan(layout: str, images: int, conditions: Sequence[str]) -> list[tuple[Frame, int, int]]:
    """(frame, condition number, frame number) of every frame to write."""
    plan = []
    for cond in conditions:
        counts = {"train": images} if layout == "kitti" else split_counts(images)
        splits = [s for s, n in counts.items() for _ in range(n)]
        for i, split in enumerate(splits):
            image, mask = _names(layout, split, i, cond)
            kind = "trainid" if layout == "bdd100k" else "labelid"
            plan.append(((image, mask, kind, cond), CONDITIONS.index(cond) + 1 if cond else 0, i))
    return plan


def write_cityscapes_family(
    dest: Path | str,
    layout: str = "cityscapes",
    images: int = 12,
    size: tuple[int, int] = (180, 240),
    seed: int = 0,
    conditions: str | Sequence[str] | None = None,
    workers: int | None = None,
    track: Callable[[Iterable, str], Iterable] | None = None,
) -> Path:
    """Write synthetic frames in a Cityscapes-format layout (ACDC: `images` per condition) to dest."""
    if layout not in CS_LAYOUTS:
        raise CamsegError(f"unknown layout {layout!r} — choose one of {', '.join(CS_LAYOUTS)}")
    if seed < 0:
        raise CamsegError(f"--seed {seed}: must be zero or positive")
    chosen = parse_conditions(conditions)
    if chosen and layout != "acdc":
        raise CamsegError("--condition applies to --layout acdc only")
    if layout == "kitti" and images < 1:
        raise CamsegError(f"--images {images}: need at least 1")
    check_size(size)
    conds: Sequence[str] = (chosen or CONDITIONS) if layout == "acdc" else ("",)
    plan = _plan(layout, images, conds)
    files = [p for (img, mask, _, _), _, _ in plan for p in (img, mask) if p]
    dest = Path(dest)
    meta = {"format": "camseg-synthetic", "version": 1, "layout": layout, "images": images,
            "size": list(size), "seed": seed, "conditions": [c for c in conds if c]}  # fmt: skip
    _claim(dest, [MARKER, *files], meta)
    if workers is None:
        workers = pool_size(8) if len(plan) * size[0] * size[1] > 2_000_000 else 1
    args = [(dest, frame, seed, c, i, size) for frame, c, i in plan]
    with ProcessPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        done = pool.map(_write_frame, *zip(*args)) if pool else map(_write_frame, *zip(*args))
        for _ in track(done, "synth") if track else done:
            pass
    return dest
