"""Inference on image files, folders and globs: index masks, colourised masks and overlays at input size.

Every prediction goes through `inference.predict_batch` (logits resized to the image, then argmax), the
path evaluation uses, so `NAME_index.png` scored against its label gives evaluate's confusion matrix.
"""

from __future__ import annotations

import glob
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from camseg_cli.core.choices import PREDICT_OUTPUTS as OUTPUTS
from camseg_cli.core.cpus import worker_threads
from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.data.loading.readahead import ReadAhead
from camseg_cli.core.data.loading.tensors import resize_image
from camseg_cli.core.data.sources.samples import image_exts, read_image, special_file
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.files import make_folder, write_with
from camseg_cli.core.model.checkpoint import load_checkpoint, run_name
from camseg_cli.core.model.device import default_batch_size, default_workers, resolve_device
from camseg_cli.core.model.inference import amp_dtype, checkpoint_inference, predict_batch

Track = Callable[[Iterable, str], Iterable]


@dataclass
class PredictResult:
    """What a predict run did: images written, inputs that failed (with why), time taken."""

    out: Path
    images: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # files of a folder that are not images
    files: int = 0
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return len(self.images) / self.seconds if self.seconds > 0 else float("nan")


# ------------------------------------------------------------------------------------------ inputs


def _split_images(paths: Iterable[Path], exts: frozenset[str]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(images Pillow can open, [(other entry, why not read)]); hidden files (.DS_Store, ...) are neither.
    An image-named entry that is no regular file (a dangling link, a loop, a FIFO) is named with why."""
    images, others = [], []
    for p in sorted(p for p in paths if not p.name.startswith(".") and not p.is_dir()):
        why = special_file(p)
        if why is None and p.suffix.lower() in exts:
            images.append(p)
        elif why is None:
            others.append((p, "not an image format Pillow reads"))
        elif p.suffix.lower() in exts:
            others.append((p, why))
    return images, others


def collect_inputs(
    inputs: Sequence[str | Path],
) -> tuple[list[tuple[Path, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Expand files, folders (recursively) and globs into (path, output name), problems and skips.

    Folders and globs yield every file whose extension Pillow opens (png, jpg, webp, tif, bmp, ...);
    their other files come back as (file, reason) skips. Output names keep a folder input's sub-folders
    (`sub/NAME`) and are a file's stem otherwise; two inputs that would write the same files are an
    error. Inputs that match nothing are returned as (input, reason) problems rather than raised, so
    the others still run. A file named directly is always tried (and fails as unreadable if it is not).
    """
    exts = image_exts()
    found: list[tuple[Path, str]] = []
    problems: list[tuple[str, str]] = []
    skipped: list[tuple[Path, str]] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            images, others = _split_images(p.rglob("*"), exts)
            found += [(f, f.relative_to(p).with_suffix("").as_posix()) for f in images]
            skipped += others
            if not images:
                problems.append((str(raw), "folder holds no images"))
        elif p.is_file():
            found.append((p, p.stem))
        elif os.path.lexists(p) and not glob.has_magic(str(raw)):
            problems.append((str(raw), special_file(p) or "not a regular file"))
        elif glob.has_magic(str(raw)):
            matches = [Path(m) for m in sorted(glob.glob(str(raw), recursive=True))]
            files = [f for m in matches for f in (m.rglob("*") if m.is_dir() else [m])]
            images, others = _split_images(files, exts)
            found += [(f, f.stem) for f in images]
            skipped += others
            if not images:
                problems.append((str(raw), "pattern matches no images"))
        else:
            problems.append((str(raw), "no such file or folder"))
    return _unique(found), problems, [(str(f), why) for f, why in dict.fromkeys(skipped)]


def _unique(found: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    by_path: dict[Path, str] = {}
    by_name: dict[str, Path] = {}
    for path, name in found:
        key = path.resolve()
        if key in by_path:
            continue  # the same file named twice (a folder and a glob, say): predict it once
        if name in by_name:
            raise CamsegError(
                f"{by_name[name]} and {path} would both write {name}_*.png — predict them in separate "
                "runs (--out) or pass their parent folder"
            )
        by_path[key], by_name[name] = name, path
    return [(by_name[name], name) for name in by_path.values()]


# ----------------------------------------------------------------------------------------- drawing


def colorize(index: np.ndarray, classes: ClassMap) -> np.ndarray:
    """HxW class indices -> HxWx3 uint8 class colours (one palette gather)."""
    return classes.palette()[index]


def blend(image: np.ndarray, color: np.ndarray, alpha: float) -> np.ndarray:
    """Image blended with the colour mask: (1 - alpha) * image + alpha * colour, uint8."""
    mixed = image.astype(np.float32) * (1.0 - alpha) + color.astype(np.float32) * alpha
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def legend_image(classes: ClassMap, indices: Iterable[int]) -> np.ndarray:
    """A small RGB picture: one colour swatch and name per class in `indices` (those the masks show)."""
    from PIL import ImageDraw

    shown = [i for i in sorted(set(indices)) if 0 <= i < classes.num_classes]
    row = 18
    img = Image.new("RGB", (220, row * max(len(shown), 1) + 8), "white")
    draw = ImageDraw.Draw(img)
    for k, i in enumerate(shown):
        y = 4 + k * row
        draw.rectangle((6, y, 26, y + row - 4), fill=tuple(classes.colors[i]), outline="black")
        draw.text((34, y + 1), classes.names[i], fill="black")
    return np.asarray(img)


def _save_png(dest: Path, array: np.ndarray) -> None:
    write_with(dest, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def write_outputs(
    dest: Path,
    name: str,
    index: np.ndarray,
    image: np.ndarray | None,
    classes: ClassMap,
    save: Sequence[str],
    alpha: float,
) -> int:
    """Write NAME_index/_color/_overlay.png under dest; returns how many files were written."""
    color = colorize(index, classes) if ("color" in save or "overlay" in save) else None
    arrays = {
        "index": index,
        "color": color,
        "overlay": blend(image, color, alpha) if "overlay" in save and image is not None else None,
    }
    for kind in save:
        _save_png(dest / f"{name}_{kind}.png", arrays[kind])
    return len(save)


# --------------------------------------------------------------------------------------- inference


class _Images:
    """Dataset of (position, uint8 hxwx3 tensor at model size, original image or error) for files."""

    def __init__(self, paths: list[Path], size: Sequence[int]):
        self.paths, self.size = paths, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, np.ndarray | str]:
        try:
            image = read_image(self.paths[i])
        except CamsegError as e:
            return i, None, str(e).removeprefix(f"{self.paths[i]}: ")
        return i, resize_image(image, self.size), image


def _collate(batch: list) -> list:
    return batch  # stacked in the loop, after unreadable images are set aside


def check_save(save: Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(s.strip() for s in save if s.strip()))
    bad = [k for k in kinds if k not in OUTPUTS]
    if bad or not kinds:
        raise CamsegError(f"--save {','.join(save)}: choose from {', '.join(OUTPUTS)} (comma-separated)")
    return kinds


def predict_files(
    ckpt_path: Path | str,
    inputs: Sequence[str | Path],
    out: Path | str | None = None,
    save: Sequence[str] = OUTPUTS,
    tta: bool = False,
    batch_size: int | None = None,
    device: str = "auto",
    alpha: float = 0.5,
    workers: int | None = None,
    track: Track | None = None,
) -> PredictResult:
    """Predict every input image and write its masks at the image's own resolution.

    Args:
        ckpt_path: a camseg checkpoint.
        inputs: image files, folders (searched recursively) or glob patterns.
        out: output folder; default out/predictions/<run>/.
        save: any of index, color, overlay.
        tta: average the logits with those of the mirrored image.
        batch_size: images per forward pass; default 1 on CPU, 4 on CUDA.
        device: auto, cpu, cuda or cuda:N.
        alpha: colour weight of the overlay, 0..1.
        workers: DataLoader worker processes reading images; default 0 on CPU, 4 on CUDA.
        track: progress callback wrapping the batch iterable, `track(iterable, description)`.
    """
    save = check_save(save)
    if not 0.0 <= alpha <= 1.0:
        raise CamsegError(f"--alpha must be within 0..1, got {alpha}")
    if batch_size is not None and batch_size < 1:
        raise CamsegError(f"--batch-size must be at least 1, got {batch_size}")
    dev = resolve_device(device)
    batch_size = batch_size or default_batch_size(dev)
    ckpt = load_checkpoint(ckpt_path)
    items, problems, skipped = collect_inputs(inputs)
    result = PredictResult(
        Path(out) if out else Path("out") / "predictions" / run_name(ckpt), failed=problems, skipped=skipped
    )
    if not items:
        return result
    make_folder(result.out)
    classes: ClassMap = ckpt["classes_map"]
    model, to_input = checkpoint_inference(ckpt, dev)
    dtype = amp_dtype(dev)
    dataset = _Images([p for p, _ in items], ckpt["image_size"])
    workers = default_workers(dev) if workers is None else workers
    loader = DataLoader(
        dataset, batch_size, num_workers=workers, collate_fn=_collate, worker_init_fn=worker_threads
    )
    source = loader if workers else ReadAhead(loader)  # without workers, read on a thread
    batches = track(source, f"predict {run_name(ckpt)}") if track else source
    start = time.perf_counter()
    seen: set[int] = set()  # classes any mask shows, for legend.png
    pending: deque[list[tuple[Path, Future]]] = deque()
    with ThreadPoolExecutor(max_workers=2) as pool:  # PNG encoding overlaps the next forward pass
        for batch in batches:
            good = [(i, x, img) for i, x, img in batch if x is not None]
            result.failed += [(str(items[i][0]), err) for i, x, err in batch if x is None]
            if not good:
                continue
            images = to_input(torch.stack([x for _, x, _ in good]))
            preds = predict_batch(model, images, [img.shape[:2] for _, _, img in good], dtype, tta)
            jobs = []
            for (i, _, img), pred in zip(good, preds):
                index = pred.to(torch.uint8).cpu().numpy()
                seen.update(np.unique(index).tolist())
                args = (result.out, items[i][1], index, img, classes, save, alpha)
                jobs.append((items[i][0], pool.submit(write_outputs, *args)))
            pending.append(jobs)
            if len(pending) > 1:
                _drain(pending.popleft(), result)
        while pending:
            _drain(pending.popleft(), result)
    if seen and ("color" in save or "overlay" in save):
        _save_png(result.out / "legend.png", legend_image(classes, seen))  # what the colours mean
        result.files += 1
    result.seconds = time.perf_counter() - start
    return result


def _drain(jobs: list[tuple[Path, Future]], result: PredictResult) -> None:
    for path, future in jobs:
        try:
            result.files += future.result()
            result.images.append(path)
        except (CamsegError, OSError, ValueError) as e:
            result.failed.append((str(path), f"cannot write its outputs: {e}"))
