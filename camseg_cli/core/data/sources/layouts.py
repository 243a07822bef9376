"""Dataset layouts on disk (rgb, index, fastai, original): detect one, read its classes and splits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from camseg_cli.core.data.classes.maps import ClassMap, preset, read_class_dict, read_codes, read_label_colors
from camseg_cli.core.data.sources import splits as seqs
from camseg_cli.core.data.sources.cityscapes import (
    CS_LAYOUTS,
    detect_cityscapes_family,
    open_cityscapes_family,
)
from camseg_cli.core.data.sources.samples import (
    SPLITS,
    DatasetInfo,
    SampleRef,
    image_exts,
    read_sample,
    special_file,
)
from camseg_cli.core.errors import CamsegError

LAYOUTS = ("rgb", "index", "fastai")  # the layouts camseg also writes (camseg synth)
# Read only: the original CamVid release (701_StillsRaw_full/, LabeledApproved_full/*_L.png).
READ_LAYOUTS = (*LAYOUTS, "original", *CS_LAYOUTS)
STILLS, LABELED = "701_StillsRaw_full", "LabeledApproved_full"


# ---------------------------------------------------------------------------------------- layouts


def detect_layout(root: Path) -> str:
    """Tell rgb / index / fastai apart from the folder's contents."""
    root = Path(root)
    if not root.is_dir():
        raise CamsegError(f"{root}: dataset folder not found")
    found = detect_cityscapes_family(root)  # first: bdd100k has images/ + labels/ as fastai does
    if found:
        return found
    if (root / STILLS).is_dir() and (root / LABELED).is_dir():
        return "original"
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return "fastai"
    if (root / "train_labels").is_dir():
        return "rgb"
    if (root / "trainannot").is_dir():
        return "index"
    if (root / "class_dict.csv").is_file():
        return "rgb"
    raise CamsegError(
        f"{root}: no known dataset layout — expected train/ + train_labels/ + class_dict.csv (rgb), "
        "train/ + trainannot/ (index), images/ + labels/ + codes.txt (fastai) or "
        f"{STILLS}/ + {LABELED}/ (original CamVid), or a Cityscapes / ACDC / KITTI / BDD100K folder "
        "(leftImg8bit/ + gtFine/, rgb_anon/ + gt/, training/image_2/ + training/semantic/, images/10k/ + "
        "labels/sem_seg/)"
    )


def _images(folder: Path) -> list[Path]:
    """Image files of a folder, sorted; two with one name (a.png, a.jpg) would be one sample: an error."""
    exts = image_exts()
    # not only regular files: an image-named dangling symlink, loop or FIFO becomes a sample that fails
    # by name when read (or is listed by --skip-bad), never one silently missing from its split
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in exts and not p.is_dir())
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen:
            other = seen[p.stem].name
            raise CamsegError(f"{p}: duplicate name — {other} has the same name {p.stem!r}; keep one")
        seen[p.stem] = p
    return paths


def _pair(images: list[Path], mask_dir: Path, suffix: str, kind: str) -> list[SampleRef]:
    masks = {p.stem: p for p in _images(mask_dir)} if mask_dir.is_dir() else {}
    refs = []
    for img in images:
        mask = masks.get(img.stem + suffix)
        if mask is None and special_file(img):  # unreadable itself: say that when it is read, not "no mask"
            mask = mask_dir / f"{img.stem}{suffix}.png"
        if mask is None:
            raise CamsegError(f"{img}: no mask {img.stem}{suffix}.png in {mask_dir}")
        refs.append(SampleRef(img.stem, img, mask, kind))
    return refs


def _folder_splits(root: Path, label_suffix: str, mask_suffix: str, kind: str) -> dict[str, list[SampleRef]]:
    splits = {}
    for split in SPLITS:
        if (root / split).is_dir():
            splits[split] = _pair(_images(root / split), root / f"{split}{label_suffix}", mask_suffix, kind)
    return splits


def _index_splits(root: Path) -> dict[str, list[SampleRef]]:
    """train/ + trainannot/ folders; SegNet's train.txt/val.txt/test.txt, where present, decide."""
    splits = _folder_splits(root, "annot", "", "index")
    for split, entries in seqs.read_split_lists(root).items():
        refs = []
        for image, mask in entries:
            mask = mask or image.parent.parent / f"{image.parent.name}annot" / image.name
            for p in (image, mask):
                if not p.is_file():
                    raise CamsegError(f"{root / f'{split}.txt'}: lists {p.relative_to(root)}, not found")
            refs.append(SampleRef(image.stem, image, mask, "index"))
        splits[split] = refs
    return {s: splits[s] for s in SPLITS if s in splits}


def _named_splits(refs: list[SampleRef], lists: dict[str, tuple[Path, list[str]]], folder: Path):
    """Splits by the file names each list names; train, unless listed, is every sample not held out."""
    by_name = {r.name: r for r in refs}
    splits = {}
    for split, (path, names) in lists.items():
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise CamsegError(f"{path}: lists {unknown[0]!r}, which is not in {folder}")
        splits[split] = [by_name[n] for n in names]
    if "train" not in splits:
        held = {r.name for v in splits.values() for r in v}
        splits["train"] = [r for r in refs if r.name not in held]
    return {s: splits[s] for s in SPLITS if s in splits}


def _read_list(path: Path) -> list[str]:
    return [Path(ln.strip()).stem for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _fastai_splits(root: Path) -> dict[str, list[SampleRef]]:
    refs = _pair(_images(root / "images"), root / "labels", "_P", "index")
    lists = {}
    for split, fname in (("val", "valid.txt"), ("test", "test.txt")):  # test.txt is optional
        lists[split] = (root / fname, _read_list(root / fname) if (root / fname).is_file() else [])
    return _named_splits(refs, lists, root / "images")


def _original_splits(root: Path) -> dict[str, list[SampleRef]]:
    """The original release has no split: split lists (by file name) where present, else by sequence."""
    refs = _pair(_images(root / STILLS), root / LABELED, "_L", "rgb")
    lists = {
        s: (root / f"{s}.txt", [img.stem for img, _ in e]) for s, e in seqs.read_split_lists(root).items()
    }
    if lists:
        return _named_splits(refs, lists, root / STILLS)
    return seqs.regroup(refs, seqs.plan_sequences(seqs.sequence_counts(refs)))


def _classes_for(root: Path, layout: str) -> ClassMap:
    if layout == "original":
        colors = root / "label_colors.txt"
        return read_label_colors(colors) if colors.is_file() else preset("camvid32")
    if layout == "fastai":
        if not (root / "codes.txt").is_file():
            raise CamsegError(f"{root}: fastai layout needs codes.txt (one class name per line)")
        return read_codes(root / "codes.txt")
    if (root / "class_dict.csv").is_file():
        return read_class_dict(root / "class_dict.csv")
    if layout == "rgb":
        raise CamsegError(f"{root}: rgb layout needs class_dict.csv (name,r,g,b)")
    return preset("camvid11")


def open_dataset(
    root: Path | str,
    layout: str | None = None,
    split_by: str | None = None,
    val_sequences: str | Sequence[str] | None = None,
    test_sequences: str | Sequence[str] | None = None,
    conditions: str | Sequence[str] | None = None,
) -> DatasetInfo:
    """Read a dataset folder: detect (or check) its layout, its classes and its splits.

    split_by="sequence" rebuilds train/val/test from whole sequences (see core.splits), holding out
    val_sequences / test_sequences ("0016E5,Seq05VD" or a list; None: the default); None or "dataset"
    keeps the dataset's own split. conditions selects ACDC conditions ("fog,night"; None: all).
    """
    root = Path(root)
    if split_by not in (None, *seqs.SPLIT_BY):
        raise CamsegError(f"unknown --split-by {split_by!r} — choose one of {', '.join(seqs.SPLIT_BY)}")
    if split_by != "sequence" and (val_sequences or test_sequences):
        raise CamsegError("--val-sequences/--test-sequences need --split-by sequence")
    if layout is None:
        layout = detect_layout(root)
    elif layout not in READ_LAYOUTS:
        raise CamsegError(f"unknown layout {layout!r} — choose one of {', '.join(READ_LAYOUTS)}")
    if not root.is_dir():
        raise CamsegError(f"{root}: dataset folder not found")
    if layout in CS_LAYOUTS or conditions:
        info = open_cityscapes_family(root, layout, conditions)
        if not any(info.splits.values()):
            raise CamsegError(f"{root}: no labelled images found in any split of the {layout} layout")
        return seqs.split_by_sequence(info, val_sequences, test_sequences) if split_by == "sequence" else info
    classes = _classes_for(root, layout)
    if layout == "fastai":
        splits = _fastai_splits(root)
    elif layout == "original":
        splits = _original_splits(root)
    elif layout == "rgb":
        splits = _folder_splits(root, "_labels", "_L", "rgb")
    else:
        splits = _index_splits(root)
    if not any(splits.values()):
        raise CamsegError(f"{root}: no images found in any split of the {layout} layout")
    info = DatasetInfo(root, layout, classes, splits)
    return seqs.split_by_sequence(info, val_sequences, test_sequences) if split_by == "sequence" else info


# ------------------------------------------------------------------------------------------ Dataset

Transform = Callable[[np.ndarray, np.ndarray], Any]


class SegDataset:
    """Map-style dataset of (image uint8 HxWx3, mask int64 HxW), optionally transformed together."""

    def __init__(self, refs: list[SampleRef], classes: ClassMap, transform: Transform | None = None):
        self.refs = list(refs)
        self.classes = classes
        self.transform = transform

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> Any:
        image, mask = read_sample(self.refs[i], self.classes)
        return self.transform(image, mask) if self.transform else (image, mask)


def load_split(root: Path | str, split: str, layout: str | None = None, transform: Transform | None = None):
    """Convenience: open a dataset folder and return the SegDataset of one split."""
    info = open_dataset(root, layout)
    return SegDataset(info.samples(split), info.classes, transform)
