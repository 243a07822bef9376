"""The Cityscapes label table: 34 label ids, the 19 train ids they map to, and the standard colours.

One table for every Cityscapes-format dataset (Cityscapes, ACDC, KITTI semantics use the label ids;
BDD100K uses the train ids). Source of the facts: cityscapesScripts, cityscapesscripts/helpers/labels.py
(github.com/mcordts/cityscapesScripts, `labels`), written out here by hand. Label ids without a train
id (unlabeled, ego vehicle, parking, guard rail, caravan, ...) are void.
"""

from __future__ import annotations

import functools

import numpy as np

from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.errors import CamsegError

VOID = 255  # train id of every label id that is not one of the 19 classes; BDD100K's void value
# (name, label id, train id, colour); the 34 label ids 0..33 of the released ground truth.
LABELS: tuple[tuple[str, int, int, tuple[int, int, int]], ...] = (
    ("unlabeled", 0, VOID, (0, 0, 0)),
    ("ego vehicle", 1, VOID, (0, 0, 0)),
    ("rectification border", 2, VOID, (0, 0, 0)),
    ("out of roi", 3, VOID, (0, 0, 0)),
    ("static", 4, VOID, (0, 0, 0)),
    ("dynamic", 5, VOID, (111, 74, 0)),
    ("ground", 6, VOID, (81, 0, 81)),
    ("road", 7, 0, (128, 64, 128)),
    ("sidewalk", 8, 1, (244, 35, 232)),
    ("parking", 9, VOID, (250, 170, 160)),
    ("rail track", 10, VOID, (230, 150, 140)),
    ("building", 11, 2, (70, 70, 70)),
    ("wall", 12, 3, (102, 102, 156)),
    ("fence", 13, 4, (190, 153, 153)),
    ("guard rail", 14, VOID, (180, 165, 180)),
    ("bridge", 15, VOID, (150, 100, 100)),
    ("tunnel", 16, VOID, (150, 120, 90)),
    ("pole", 17, 5, (153, 153, 153)),
    ("polegroup", 18, VOID, (153, 153, 153)),
    ("traffic light", 19, 6, (250, 170, 30)),
    ("traffic sign", 20, 7, (220, 220, 0)),
    ("vegetation", 21, 8, (107, 142, 35)),
    ("terrain", 22, 9, (152, 251, 152)),
    ("sky", 23, 10, (70, 130, 180)),
    ("person", 24, 11, (220, 20, 60)),
    ("rider", 25, 12, (255, 0, 0)),
    ("car", 26, 13, (0, 0, 142)),
    ("truck", 27, 14, (0, 0, 70)),
    ("bus", 28, 15, (0, 60, 100)),
    ("caravan", 29, VOID, (0, 0, 90)),
    ("trailer", 30, VOID, (0, 0, 110)),
    ("train", 31, 16, (0, 80, 100)),
    ("motorcycle", 32, 17, (0, 0, 230)),
    ("bicycle", 33, 18, (119, 11, 32)),
)
NUM_TRAIN_IDS = 19
VOID_NAME = "void"


@functools.cache
def cityscapes_classes() -> ClassMap:
    """The 19 train-id classes in train-id order, then void (index 19, black): Cityscapes-19."""
    by_train = sorted((t, name, color) for name, _, t, color in LABELS if t != VOID)
    pairs = [(name, color) for _, name, color in by_train] + [(VOID_NAME, (0, 0, 0))]
    return ClassMap.from_pairs(pairs)


@functools.cache
def label_lut() -> np.ndarray:
    """256-entry table label id -> class index of cityscapes_classes(); -1 where the table has no id."""
    void = cityscapes_classes().void
    lut = np.full(256, -1, dtype=np.int64)
    for _, label_id, train_id, _ in LABELS:
        lut[label_id] = void if train_id == VOID else train_id
    return lut


@functools.cache
def train_id_lut() -> np.ndarray:
    """256-entry table train id -> class index: 0..18 stay, 255 is void, anything else -1."""
    lut = np.full(256, -1, dtype=np.int64)
    lut[:NUM_TRAIN_IDS] = np.arange(NUM_TRAIN_IDS)
    lut[VOID] = cityscapes_classes().void
    return lut


@functools.cache
def train_to_label_id() -> np.ndarray:
    """Class index (0..19, 19 = void) -> the first label id carrying it (synthetic labelIds use it)."""
    out = np.zeros(NUM_TRAIN_IDS + 1, dtype=np.uint8)  # void -> 0 (unlabeled)
    for _, label_id, train_id, _ in LABELS:
        if train_id != VOID and out[train_id] == 0:
            out[train_id] = label_id
    return out


def decode_ids(mask: np.ndarray, kind: str, source: str) -> np.ndarray:
    """A single-channel labelIds ("labelid") or trainIds ("trainid") mask -> int64 class indices.

    A value outside the table is an error naming the file, the value and its pixel count."""
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise CamsegError(f"{source}: {kind} mask must be HxW integers, got {mask.dtype} {mask.shape}")
    lut = label_lut() if kind == "labelid" else train_id_lut()
    inside = (mask >= 0) & (mask < 256)
    idx = np.where(inside, lut[np.clip(mask, 0, 255)], -1)
    bad = idx < 0
    if bad.any():
        values, counts = np.unique(mask[bad], return_counts=True)
        worst = int(np.argmax(counts))
        what = "label id" if kind == "labelid" else "train id"
        allowed = "0..33" if kind == "labelid" else "0..18 or 255"
        more = f" and {len(values) - 1} other unknown value(s)" if len(values) > 1 else ""
        raise CamsegError(
            f"{source}: {what} {int(values[worst])} on {int(counts[worst])} pixels is not in the "
            f"Cityscapes table ({allowed}){more}"
        )
    return idx
