"""Cityscapes-format layouts (cityscapes, acdc, kitti) and bdd100k: detect one, read its splits.

All four use the 19 Cityscapes train-id classes (core/data/classes/cityscapes.py). Cityscapes, ACDC and
KITTI store label ids (34 values, decoded to train ids, the rest void); a `_labelTrainIds.png` beside
a labelIds file is used instead when present. BDD100K stores train ids (255 void). Splits whose labels
the dataset withholds (the benchmark servers score them) are recorded as unlabelled, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from camseg_cli.core.data.classes.cityscapes import cityscapes_classes
from camseg_cli.core.data.sources.samples import SPLITS, DatasetInfo, SampleRef
from camseg_cli.core.errors import CamsegError

CS_LAYOUTS = ("cityscapes", "acdc", "kitti", "bdd100k")
CONDITIONS = ("fog", "night", "rain", "snow")  # ACDC's adverse conditions
WITHHELD = "{name} withholds its {split} labels (its benchmark server scores them) — evaluate on --split val"


def detect_cityscapes_family(root: Path) -> str | None:
    """The Cityscapes-format layout of a folder, or None when it is none of them."""
    if (root / "leftImg8bit").is_dir() and (root / "gtFine").is_dir():
        return "cityscapes"
    if (root / "rgb_anon").is_dir() and (root / "gt").is_dir():
        return "acdc"
    if (root / "training" / "image_2").is_dir() and (root / "training" / "semantic").is_dir():
        return "kitti"
    if (root / "images" / "10k").is_dir() and (root / "labels" / "sem_seg").is_dir():
        return "bdd100k"
    return None


def parse_conditions(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """'fog,night' or a list -> validated tuple of ACDC conditions; None or empty -> None (all)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    unknown = [c for c in names if c not in CONDITIONS]
    if unknown:
        raise CamsegError(f"unknown --condition {unknown[0]!r} — choose from {', '.join(CONDITIONS)}")
    return names or None


def _gt(folder: Path, stem: str, tag: str, image: Path) -> tuple[Path, str]:
    """The ground truth of one image: `<stem><tag>_labelTrainIds.png` if there, else `_labelIds.png`."""
    train_ids = folder / f"{stem}{tag}_labelTrainIds.png"
    if train_ids.is_file():
        return train_ids, "trainid"
    label_ids = folder / f"{stem}{tag}_labelIds.png"
    if label_ids.is_file():
        return label_ids, "labelid"
    raise CamsegError(f"{label_ids}: ground truth not found (the label file of image {image.name})")


def _stem(path: Path, suffix: str) -> str:
    return path.name[: -len(suffix)]


def _cityscapes(root: Path) -> tuple[dict[str, list[SampleRef]], dict[str, str]]:
    """leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png + gtFine/<split>/<city>/..."""
    splits, unlabelled = {}, {}
    for split in SPLITS:
        folder = root / "leftImg8bit" / split
        if not folder.is_dir():
            continue
        if split == "test":  # gtFine/test exists, but holds placeholders, not labels
            unlabelled[split] = WITHHELD.format(name="Cityscapes", split=split)
            continue
        refs = []
        for img in sorted(folder.glob("*/*_leftImg8bit.png")):
            stem = _stem(img, "_leftImg8bit.png")
            mask, kind = _gt(root / "gtFine" / split / img.parent.name, stem, "_gtFine", img)
            refs.append(SampleRef(stem, img, mask, kind, sequence="_".join(stem.split("_")[:2])))
        splits[split] = refs
    return splits, unlabelled


def _acdc(
    root: Path, conditions: tuple[str, ...] | None
) -> tuple[dict[str, list[SampleRef]], dict[str, str]]:
    """rgb_anon/<condition>/<split>/<sequence>/*_rgb_anon.png + gt/<condition>/<split>/<sequence>/..."""
    present = [c for c in CONDITIONS if (root / "rgb_anon" / c).is_dir()]
    for c in conditions or ():
        if c not in present:
            raise CamsegError(f"{root / 'rgb_anon' / c}: condition {c!r} not found in this ACDC folder")
    splits, unlabelled = {}, {}
    for split in SPLITS:
        refs: list[SampleRef] = []
        for cond in conditions or present:
            folder = root / "rgb_anon" / cond / split
            if not folder.is_dir():
                continue
            gt_dir = root / "gt" / cond / split
            if not gt_dir.is_dir():
                unlabelled[split] = WITHHELD.format(name="ACDC", split=split)
                continue
            for img in sorted(folder.glob("*/*_rgb_anon.png")):
                stem, seq = _stem(img, "_rgb_anon.png"), img.parent.name
                mask, kind = _gt(gt_dir / seq, stem, "_gt", img)
                refs.append(SampleRef(stem, img, mask, kind, sequence=seq, condition=cond))
        if refs:
            splits[split] = refs
    return splits, unlabelled


def _kitti(root: Path) -> tuple[dict[str, list[SampleRef]], dict[str, str]]:
    """training/image_2/*.png + training/semantic/*.png (label ids); testing/ has no labels."""
    refs = []
    for img in sorted((root / "training" / "image_2").glob("*.png")):
        mask = root / "training" / "semantic" / img.name
        if not mask.is_file():
            raise CamsegError(f"{mask}: ground truth not found (the label file of image {img.name})")
        refs.append(SampleRef(img.stem, img, mask, "labelid", sequence=img.stem.split("_")[0]))
    one = "KITTI's semantic benchmark labels one split, train: use --split train, or --split-by sequence"
    unlabelled = {"val": one, "test": one}
    return {"train": refs}, unlabelled


def _bdd100k(root: Path) -> tuple[dict[str, list[SampleRef]], dict[str, str]]:
    """images/10k/<split>/*.jpg + labels/sem_seg/masks/<split>/*.png (train ids, 255 void)."""
    splits, unlabelled = {}, {}
    for split in SPLITS:
        folder = root / "images" / "10k" / split
        if not folder.is_dir():
            continue
        masks = root / "labels" / "sem_seg" / "masks" / split
        if not masks.is_dir():
            unlabelled[split] = WITHHELD.format(name="BDD100K", split=split)
            continue
        refs = []
        for img in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
            mask = masks / f"{img.stem}.png"
            if not mask.is_file():
                raise CamsegError(f"{mask}: ground truth not found (the label file of image {img.name})")
            refs.append(SampleRef(img.stem, img, mask, "trainid"))
        splits[split] = refs
    return splits, unlabelled


def _check_unique(splits: dict[str, list[SampleRef]]) -> None:
    """Reports, caches and the bootstrap key images by name: two files of one name would be one."""
    seen: dict[str, Path] = {}
    for refs in splits.values():
        for r in refs:
            if r.name in seen and seen[r.name] != r.image:
                raise CamsegError(f"{r.image}: duplicate name — {seen[r.name]} has the same name {r.name!r}")
            seen[r.name] = r.image


def open_cityscapes_family(
    root: Path, layout: str, conditions: str | Sequence[str] | None = None
) -> DatasetInfo:
    """Read a Cityscapes-format (or BDD100K) folder; `conditions` selects ACDC conditions."""
    chosen = parse_conditions(conditions)
    if chosen and layout != "acdc":
        raise CamsegError(f"--condition applies to the acdc layout only; {root} is read as {layout}")
    if layout == "cityscapes":
        splits, unlabelled = _cityscapes(root)
    elif layout == "acdc":
        splits, unlabelled = _acdc(root, chosen)
    elif layout == "kitti":
        splits, unlabelled = _kitti(root)
    else:
        splits, unlabelled = _bdd100k(root)
    _check_unique(splits)
    return DatasetInfo(root, layout, cityscapes_classes(), splits, unlabelled)
