"""The cache of evaluations (`out/eval/<run>-<split>.npz`) and what keys it: the checkpoint's SHA-256, the
data's fingerprint, the layout, --skip-bad's skips and the class map. `cached_result` returns a saved
evaluation unless one of those changed, so nothing is evaluated twice.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.data.classes.remap import class_map_path
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.samples import SampleRef
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.files import to_json, write_with

# 2: keyed by checkpoint sha256 + data fingerprint; 3: + layout and --skip-bad's skips;
# 4: + prediction and label thumbnails (input dependence): older caches are evaluated again
CACHE_VERSION = 4


def file_sha256(path: Path | str) -> str:
    """Content hash of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def distinct_files(paths: Sequence[Path | str]) -> tuple[list[Path], list[tuple[Path, Path, str]]]:
    """(the paths, each file once, in order; [(dropped path, the kept one it repeats, how)]): one file
    named twice (another spelling, a symlink) or a byte-for-byte copy of another is counted once."""
    kept: list[Path] = []
    dropped: list[tuple[Path, Path, str]] = []
    by_path: dict[Path, Path] = {}
    by_content: dict[tuple[int, str], Path] = {}
    for raw in paths:
        path = Path(raw)
        try:
            key = path.resolve()
            content = (path.stat().st_size, file_sha256(path)) if path.is_file() else None
        except OSError:
            kept.append(path)  # unreadable: loading it gives the one-line error
            continue
        if key in by_path:
            dropped.append((path, by_path[key], "the same file"))
        elif content is not None and content in by_content:
            dropped.append((path, by_content[content], "a byte-for-byte copy"))
        else:
            by_path[key] = path
            if content is not None:
                by_content[content] = path
            kept.append(path)
    return kept, dropped


def data_fingerprint(refs: Sequence[SampleRef]) -> str:
    """Names, sizes and modification times of a split's images and masks: changes when the data does."""
    h = hashlib.sha256()
    for ref in refs:
        for p in (ref.image, ref.mask):
            try:
                st = p.stat()
            except OSError:  # a dangling link or a loop that --skip-bad left out: its name is the record
                h.update(f"{p.name}:unreadable;".encode())
                continue
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


def map_stamp(class_map: Path | str | None) -> dict[str, Any]:
    """What a --class-map adds to a cache key: the map file's content hash (nothing without one)."""
    return {"class_map": file_sha256(class_map_path(class_map))} if class_map is not None else {}


def stamp(
    path: Path | str, refs: Sequence[SampleRef] = (), layout: str | None = None, skipped: Sequence[str] = ()
) -> dict[str, Any]:
    """What a cached evaluation is keyed by: the checkpoint's content hash, every file of the split
    (those --skip-bad left out too, so mending one means a new evaluation), the layout it was read
    with, and the names --skip-bad left out."""
    return {
        "sha256": file_sha256(path),
        "data": data_fingerprint(refs),
        "layout": layout,
        "skipped": sorted(skipped),
    }


# ------------------------------------------------------------------------------------------ cache


def report_stem(out: Path | str, run: str, split: str, corrupt: dict[str, Any] | None = None) -> Path:
    """`out/eval/<run>-<split>`: the .json, .csv, .npz and -confusion.png of one evaluation; a corrupted
    pass (corrupt = {"name", "severity", "seed"}) in `out/eval/corrupt/<run>-<split>-<name>-s<N>-seed<S>`."""
    if corrupt:
        tag = f"{corrupt['name']}-s{corrupt['severity']}-seed{corrupt['seed']}"
        return Path(out) / "eval" / "corrupt" / f"{run}-{split}-{tag}"
    return Path(out) / "eval" / f"{run}-{split}"


def _meta(r: EvalResult) -> dict[str, Any]:
    keys = ("checkpoint", "run", "split", "data", "bootstrap", "seed", "seconds", "stamp")
    return {"cache_version": CACHE_VERSION, "classes": r.classes.to_dict(), "ci": r.ci} | {
        k: getattr(r, k) for k in keys
    }


def save_cache(result: EvalResult, path: Path | str) -> Path:
    """Per-image matrices, ignored counts, image names and metadata as one .npz (no pickles)."""
    arrays = {
        "per_image": result.per_image.astype(np.int64),
        "ignored": result.ignored.astype(np.int64),
        "image_names": np.asarray(result.image_names, dtype=np.str_),
        "meta": np.asarray(to_json(_meta(result))),
    }
    if result.conditions:
        arrays["conditions"] = np.asarray(result.conditions, dtype=np.str_)
    if result.pred_thumbs is not None and result.label_thumbs is not None:
        arrays["pred_thumbs"] = result.pred_thumbs.astype(np.int16)
        arrays["label_thumbs"] = result.label_thumbs.astype(np.int16)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append .npz to the temp name
            np.savez_compressed(f, **arrays)

    return write_with(path, write)


def load_cache(path: Path | str) -> EvalResult:
    """Read an evaluation saved by `save_cache`; allow_pickle stays off."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            per_image, ignored, names = z["per_image"], z["ignored"], [str(s) for s in z["image_names"]]
            conditions = [str(s) for s in z["conditions"]] if "conditions" in z.files else None
            thumbs = (z["pred_thumbs"], z["label_thumbs"]) if "pred_thumbs" in z else (None, None)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise CamsegError(
            f"{path}: not a readable camseg evaluation cache ({e.__class__.__name__}: {e})"
        ) from None
    if meta.get("cache_version") != CACHE_VERSION:
        raise CamsegError(
            f"{path}: evaluation cache version {meta.get('cache_version')} — re-run camseg evaluate"
        )
    nan2 = (math.nan, math.nan)
    ci = {
        k: tuple(math.nan if v is None else v for v in (meta["ci"].get(k) or nan2))
        for k in ("miou", "pixel_acc")
    }
    return EvalResult(
        checkpoint=meta["checkpoint"],
        run=meta["run"],
        split=meta["split"],
        data=meta["data"],
        classes=ClassMap.from_dict(meta["classes"]),
        image_names=names,
        per_image=per_image,
        ignored=ignored,
        ci=ci,
        bootstrap=meta["bootstrap"],
        seed=meta["seed"],
        seconds=math.nan if meta["seconds"] is None else meta["seconds"],
        stamp=meta["stamp"],
        conditions=conditions,
        pred_thumbs=thumbs[0],
        label_thumbs=thumbs[1],
    )


def cached_result(
    ckpt_path: Path | str,
    run: str,
    split: str,
    out: Path | str = "out",
    data: Path | str | None = None,
    settings: dict[str, Any] | None = None,
    layout: str | None = None,
    class_map: Path | str | None = None,
    corrupt: dict[str, Any] | None = None,
) -> EvalResult | None:
    """The cached evaluation of this checkpoint's content on the same split files, or None if stale.

    `settings` is the split definition asked for (see evaluate.split_settings); None accepts the cached one.
    `layout` forced by the caller must be the one the evaluation read; None accepts the cached one. An
    evaluation made with --skip-bad is reused while its split's files are unchanged. `corrupt` names a
    corrupted pass (corruption, severity, seed): its own cache, keyed by those too.
    """
    path = report_stem(out, run, split, corrupt).with_suffix(".npz")
    if not path.is_file():
        return None
    try:
        result = load_cache(path)
    except CamsegError:
        return None
    if data is not None and Path(data).resolve() != Path(result.data).resolve():
        return None
    cached_settings = result.stamp.get("split", {})
    if settings is not None and settings != cached_settings:
        return None
    cached_layout = result.stamp.get("layout")
    if layout is not None and layout != cached_layout:
        return None
    mapped = map_stamp(class_map)
    if result.stamp.get("class_map") != mapped.get("class_map"):  # scored through another map (or none)
        return None
    try:  # a retrained checkpoint or changed data means a new evaluation
        refs = open_dataset(result.data, cached_layout, **cached_settings).samples(split)
        now = stamp(ckpt_path, refs, cached_layout, result.stamp.get("skipped", []))
        corrupted = {"corrupt": corrupt} if corrupt else {}
        if result.stamp != now | {"split": cached_settings} | mapped | corrupted:
            return None
    except (CamsegError, OSError):
        return None
    return result
