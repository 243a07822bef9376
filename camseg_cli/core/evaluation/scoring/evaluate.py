"""Evaluate a checkpoint on a dataset split (one confusion matrix per image, scores, bootstrap CIs)
and write its reports: `out/eval/<run>-<split>.json/.csv/.npz` and a confusion-matrix heatmap."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from camseg_cli.core.cpus import worker_threads
from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.data.classes.remap import Remapped, lut_by_name, lut_from_file
from camseg_cli.core.data.corruption.suite import CorruptedDataset, Corruptor
from camseg_cli.core.data.loading.cache import check_cache, sample_dataset
from camseg_cli.core.data.loading.readahead import ReadAhead
from camseg_cli.core.data.loading.tensors import EvalTransform, collate_eval
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.samples import DatasetInfo
from camseg_cli.core.data.sources.validate import check_files, usable_samples
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.bootstrap import bootstrap_ci
from camseg_cli.core.evaluation.scoring.dependence import Thumbnails
from camseg_cli.core.evaluation.scoring.loop import evaluate_loader
from camseg_cli.core.evaluation.scoring.result_cache import map_stamp, stamp
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.model.checkpoint import load_checkpoint, run_name
from camseg_cli.core.model.device import default_batch_size, default_workers, resolve_device
from camseg_cli.core.model.inference import amp_dtype, checkpoint_inference

Track = Callable[[Iterable, str], Iterable]


def check_classes(dataset: ClassMap, checkpoint: ClassMap, data: Path | str, ckpt: Path | str) -> None:
    """The dataset must name the same classes in the same order (and the same void) as the checkpoint."""
    if dataset.names == checkpoint.names and dataset.void == checkpoint.void:
        return

    def show(c: ClassMap) -> str:
        names = ", ".join(c.names[:6]) + (", ..." if c.num_classes > 6 else "")
        return f"{c.num_classes} classes ({names}; void={c.void_name})"

    first = next((i for i, (a, b) in enumerate(zip(dataset.names, checkpoint.names)) if a != b), None)
    where = (
        f"; class {first} is {dataset.names[first]!r} vs {checkpoint.names[first]!r}"
        if first is not None
        else ""
    )
    raise CamsegError(
        f"classes of dataset {data} do not match checkpoint {ckpt}: dataset has {show(dataset)}, "
        f"checkpoint has {show(checkpoint)}{where} — evaluate on the dataset the model was trained for, "
        "or map its classes with --class-map FILE"
    )


def split_settings(
    ckpt: dict[str, Any],
    split_by: str | None = None,
    val_sequences: str | None = None,
    test_sequences: str | None = None,
    conditions: str | None = None,
) -> dict[str, Any]:
    """--split-by and its sequences as given, else as the checkpoint was trained (so a model trained
    on a sequence split is scored on the same held-out sequences); ACDC's --condition when given."""
    cfg = ckpt.get("config") or {}
    if split_by is None:
        split_by = cfg.get("split_by") or "dataset"
        if split_by == "sequence":
            val_sequences = val_sequences or cfg.get("val_sequences")
            test_sequences = test_sequences or cfg.get("test_sequences")
    if split_by != "sequence":
        val_sequences = test_sequences = None
    out = {"split_by": split_by, "val_sequences": val_sequences, "test_sequences": test_sequences}
    return out | ({"conditions": conditions} if conditions else {})


def class_lut(
    info: DatasetInfo, ckpt: dict[str, Any], class_map: Path | str | None = None
) -> np.ndarray | None:
    """Dataset class index -> checkpoint class index: None when the classes are the same; by name when the
    dataset's classes are all the checkpoint's (Cityscapes -> ACDC, KITTI, BDD100K); else --class-map."""
    target: ClassMap = ckpt["classes_map"]
    if class_map is not None:
        return lut_from_file(info.classes, target, class_map)
    if info.classes.names == target.names and info.classes.void == target.void:
        return None
    lut = lut_by_name(info.classes, target)
    if lut is None:
        check_classes(info.classes, target, info.root, ckpt.get("path", "checkpoint"))
    return lut


def resolve_dataset(
    ckpt: dict[str, Any],
    data: Path | str | None,
    layout: str | None,
    settings: dict[str, Any] | None = None,
    class_map: Path | str | None = None,
) -> DatasetInfo:
    """--data if given, else the dataset path recorded in the checkpoint; its classes must match (by name
    or through --class-map)."""
    where = ckpt.get("path", "checkpoint")
    if data is None:
        data, layout = ckpt.get("data"), layout or ckpt.get("layout")
        if not data:
            raise CamsegError(f"{where}: records no dataset path — pass --data DIR")
        if not Path(data).is_dir():
            raise CamsegError(f"{where}: its dataset {data} is not there (moved?) — pass --data DIR")
    info = open_dataset(data, layout, **(settings or {}))
    class_lut(info, ckpt, class_map)  # classes that do not match (by name or the map) stop here
    return info


def evaluate_passes(
    ckpt_path: Path | str,
    data: Path | str | None = None,
    split: str = "test",
    batch_size: int | None = None,
    device: str = "auto",
    bootstrap: int = 1000,
    seed: int = 0,
    layout: str | None = None,
    workers: int | None = None,
    track: Track | None = None,
    split_by: str | None = None,
    val_sequences: str | None = None,
    test_sequences: str | None = None,
    skip_bad: bool = False,
    cache: str = "none",
    cache_dir: Path | str = Path("out") / "cache",
    conditions: str | None = None,
    class_map: Path | str | None = None,
    corruptors: Sequence[Corruptor | None] = (None,),
) -> list[EvalResult]:
    """Evaluate one checkpoint on one split at each label's own resolution, once per corruptor (None:
    clean), loading the checkpoint, the model and the split's files once.

    Args:
        ckpt_path: a camseg checkpoint (loaded with weights_only=True).
        data: dataset folder; defaults to the one recorded in the checkpoint.
        split: test, val or train.
        batch_size: images per forward pass; default 1 on CPU, 4 on CUDA.
        device: auto, cpu, cuda or cuda:N.
        bootstrap: resamples over images for the 95% CIs of mIoU and pixel accuracy (0: none).
        seed: seed of the bootstrap draws.
        layout: force a dataset layout (rgb, index, fastai); detected otherwise.
        workers: DataLoader worker processes; default 0 on CPU, 4 on CUDA.
        track: progress callback wrapping the batch iterable, `track(iterable, description)`.
        split_by, val_sequences, test_sequences: `dataset` or `sequence` split (default: as trained).
        skip_bad: leave out (and log) samples that cannot be read instead of stopping at the first.
        cache: none, ram (decode the split up front, this process only) or disk (a memory-mapped copy
            of the decoded split under cache_dir, reused by later evaluations while the files are unchanged).
        conditions: ACDC conditions to score ("fog,night"; default all); scores are kept per condition.
        class_map: a from,to CSV (or shipped map name) mapping the dataset's classes onto the checkpoint's.
        corruptors: corruptions of the suite, each applied to every frame (and its mask, if geometric) in
            the dataset's __getitem__, so in the loader's workers; the ignore index is the checkpoint's.
    """
    if batch_size is not None and batch_size < 1:
        raise CamsegError(f"--batch-size must be at least 1, got {batch_size}")
    check_cache(cache)
    dev = resolve_device(device)
    batch_size = batch_size or default_batch_size(dev)
    ckpt = load_checkpoint(ckpt_path)
    if conditions is None and data is None:  # its own dataset: the ACDC conditions it was trained on
        conditions = (ckpt.get("config") or {}).get("conditions")
    settings = split_settings(ckpt, split_by, val_sequences, test_sequences, conditions)
    info = resolve_dataset(ckpt, data, layout, settings, class_map)
    lut = class_lut(info, ckpt, class_map)
    every = refs = info.samples(split)
    if skip_bad:
        refs = usable_samples(refs, info.classes, split)
    else:
        check_files(refs)
    skipped = sorted({r.name for r in every} - {r.name for r in refs})
    classes: ClassMap = ckpt["classes_map"]
    transform = EvalTransform(ckpt["image_size"])
    workers = default_workers(dev) if workers is None else workers
    model, to_input = checkpoint_inference(ckpt, dev)
    key = stamp(ckpt_path, every, info.layout, skipped) | {"split": settings} | map_stamp(class_map)
    run = run_name(ckpt)
    # labels mapped onto the checkpoint's classes before any corruption, so a warp fills the checkpoint's void
    remap = None if lut is None else Remapped(lut, _as_is)
    raw = sample_dataset(refs, info.classes, remap, cache, cache_dir)  # read (or cached) once for every pass
    results = []
    for corruptor in corruptors:
        if corruptor is not None:
            corruptor = replace(corruptor, ignore_index=classes.ignore_index)
        dataset = CorruptedDataset(raw, [r.name for r in refs], corruptor, transform)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=False,
            num_workers=workers,
            collate_fn=collate_eval,
            pin_memory=dev.type == "cuda",
            worker_init_fn=worker_threads if workers else None,  # each worker one torch, one OpenCV thread
        )
        source = loader if workers else ReadAhead(loader)  # without workers, read on a thread
        what = f"evaluate {run} {split}" + (f" {corruptor.name} s{corruptor.severity}" if corruptor else "")
        wrap = (lambda it, what=what: track(it, what)) if track else None
        start = time.perf_counter()
        thumbs = Thumbnails()  # small copies of every prediction and label: does the model see its input?
        cm = evaluate_loader(
            model, source, classes.num_classes, classes.ignore_index, to_input, amp_dtype(dev), wrap, thumbs
        )
        per_image = cm.per_image().cpu().numpy()  # the one host sync of the evaluation
        pred_thumbs, label_thumbs = thumbs.arrays()
        ignored = cm.ignored().cpu().numpy()
        seconds = time.perf_counter() - start
        result = EvalResult(
            checkpoint=str(ckpt_path),
            run=run,
            split=split,
            data=str(info.root),
            classes=classes,
            image_names=[r.name for r in refs],
            per_image=per_image,
            ignored=ignored,
            ci=bootstrap_ci(per_image, bootstrap, seed, classes.ignore_index),
            bootstrap=bootstrap,
            seed=seed,
            seconds=seconds,
            stamp=key | corrupt_stamp(corruptor),
            conditions=[r.condition for r in refs] if any(r.condition for r in refs) else None,
            pred_thumbs=pred_thumbs,
            label_thumbs=label_thumbs,
        )
        results.append(result)
    return results


def evaluate_checkpoint(
    ckpt_path: Path | str, *args: Any, corruptor: Corruptor | None = None, **kwargs: Any
) -> EvalResult:
    """One pass of evaluate_passes (its arguments), clean or under one corruptor."""
    return evaluate_passes(ckpt_path, *args, corruptors=(corruptor,), **kwargs)[0]


def _as_is(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return image, mask


def corrupt_stamp(corruptor: Corruptor | None) -> dict[str, Any]:
    """What a corrupted pass adds to the cache key: corruption, severity and seed."""
    if corruptor is None:
        return {}
    return {"corrupt": {"name": corruptor.name, "severity": corruptor.severity, "seed": corruptor.seed}}
