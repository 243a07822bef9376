"""How samples divide into train/val/test: split list files, whole-sequence splits, and train leakage.

CamVid frames are named SEQUENCE_FRAME (0001TP_006690, Seq05VD_f00000). Frames of one sequence are
seconds apart, so a random or per-frame split puts near-copies of test frames into train. Splitting by
sequence keeps every sequence in exactly one split; `leakage_report` measures how many val/test frames
of a given split have a near-duplicate in train (64-bit DCT perceptual hash, Hamming distance).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from camseg_cli.core.data.sources.samples import DatasetInfo, opened
from camseg_cli.core.errors import CamsegError

SPLIT_BY = ("dataset", "sequence")
HELD_OUT = ("val", "test")
# CamVid's four sequences: 0001TP (124 labelled frames, dusk), 0006R0 (101), 0016E5 (305), Seq05VD (171).
# Default: val = 0006R0, test = Seq05VD, train = 0001TP + 0016E5: 429 / 101 / 171 frames, close to the
# usual 367 / 101 / 233 split but with no sequence shared between splits.
DEFAULT_SEQUENCES = {"val": "0006R0", "test": "Seq05VD"}
TARGET = {"train": 0.6, "val": 0.2, "test": 0.2}  # shares the fallback assignment aims for
# Bits of 64. Independent synthetic street scenes (same camera, same layout) are 12+ apart, median 18;
# a frame and its copy shifted a pixel with sensor noise are 0-6 apart.
DEFAULT_LEAK_THRESHOLD = 10

Track = Callable[[Iterable, str], Iterable]
R = TypeVar("R")  # a SampleRef (anything with .name and .image)


# --------------------------------------------------------------------------------------- sequences


def sequence_of(name: str) -> str:
    """Sequence of a frame name: text before the first '_' ('0001TP_006690' -> '0001TP'), else the
    name without trailing digits ('frame0042' -> 'frame'), else the name itself."""
    stem = Path(name).stem
    head = stem.split("_", 1)[0]
    if head and head != stem:
        return head
    return re.sub(r"[\W\d_]+$", "", stem) or stem


def ref_sequence(ref: Any) -> str:
    """Sequence of a sample: the one its layout recorded (ACDC's folder, Cityscapes' city_seq), else
    sequence_of its name."""
    return getattr(ref, "sequence", None) or sequence_of(ref.name)


def parse_sequences(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """'0016E5,Seq05VD' or a list -> tuple of names; None or empty -> None (use the default)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(s.strip() for s in items if s.strip())
    return names or None


def sequence_counts(refs: Iterable[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in refs:
        seq = ref_sequence(r)
        counts[seq] = counts.get(seq, 0) + 1
    return counts


def plan_sequences(
    counts: dict[str, int],
    val: str | Sequence[str] | None = None,
    test: str | Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """Assign whole sequences to train/val/test.

    Named sequences go where they are named; an unnamed val/test takes CamVid's default sequence if the
    data has it (and it is not the last one left for train). Then train takes the largest free sequence,
    each still-empty val/test the next largest, and every other sequence goes to the split furthest
    below its target share (60/20/20). The result depends only on the names and counts.
    """
    chosen = {"val": parse_sequences(val), "test": parse_sequences(test)}
    for split, names in chosen.items():
        unknown = [s for s in names or () if s not in counts]
        if unknown:
            raise CamsegError(
                f"--{split}-sequences: {', '.join(unknown)} not in the data — its sequences are "
                + ", ".join(f"{s} ({n})" for s, n in sorted(counts.items()))
            )
    both = set(chosen["val"] or ()) & set(chosen["test"] or ())
    if both:
        raise CamsegError(f"sequence(s) {', '.join(sorted(both))} named for both val and test — pick one")
    if len(counts) < 2:
        only = next(iter(counts), "none")
        raise CamsegError(
            f"cannot split by sequence: the data has one sequence ({only}) — name frames SEQUENCE_FRAME "
            "or use the dataset's own split"
        )
    plan = {"train": [], "val": list(chosen["val"] or ()), "test": list(chosen["test"] or ())}
    taken = {s for names in plan.values() for s in names}
    for split in HELD_OUT:
        default = DEFAULT_SEQUENCES[split]
        spare = len(counts) - len(taken) > 1  # a default never takes train's last sequence
        if chosen[split] is None and default in counts and default not in taken and spare:
            plan[split].append(default)
            taken.add(default)
    free = sorted((s for s in counts if s not in taken), key=lambda s: (-counts[s], s))
    open_splits = ["train"] + [s for s in HELD_OUT if chosen[s] is None]
    for split in open_splits:  # every open split gets a sequence before any gets a second
        if free and not plan[split]:
            plan[split].append(free.pop(0))
    if not plan["train"]:
        raise CamsegError("no sequence is left for train — name fewer --val-sequences/--test-sequences")
    total = sum(counts.values())
    for seq in free:
        size = {s: sum(counts[q] for q in plan[s]) for s in open_splits}
        split = max(open_splits, key=lambda s: TARGET[s] * total - size[s])  # ties go to train
        plan[split].append(seq)
    return {s: sorted(names) for s, names in plan.items()}


def regroup(refs: Iterable[R], plan: dict[str, list[str]]) -> dict[str, list[R]]:
    """Samples grouped by the split their sequence is planned into, each split sorted by name."""
    where = {seq: split for split, seqs in plan.items() for seq in seqs}
    out: dict[str, list[R]] = {split: [] for split in plan}
    for r in refs:
        out[where[ref_sequence(r)]].append(r)  # type: ignore[attr-defined]
    return {s: sorted(v, key=lambda r: r.name) for s, v in out.items()}  # type: ignore[attr-defined]


def all_samples(info: DatasetInfo) -> list[Any]:
    """Every sample of every split once (a file listed in two splits counts once)."""
    seen: dict[Path, Any] = {}
    for refs in info.splits.values():
        for r in refs:
            seen.setdefault(r.image, r)
    return list(seen.values())


def split_by_sequence(
    info: DatasetInfo,
    val_sequences: str | Sequence[str] | None = None,
    test_sequences: str | Sequence[str] | None = None,
) -> DatasetInfo:
    """The same dataset with train/val/test rebuilt from whole sequences (see plan_sequences)."""
    refs = all_samples(info)
    plan = plan_sequences(sequence_counts(refs), val_sequences, test_sequences)
    return dataclasses.replace(info, splits=regroup(refs, plan))


def sequences_by_split(info: DatasetInfo) -> dict[str, dict[str, int]]:
    """{split: {sequence: frames}} of a dataset as it is split now."""
    return {split: sequence_counts(refs) for split, refs in info.splits.items() if refs}


# ------------------------------------------------------------------------------------ split lists


def read_split_lists(root: Path) -> dict[str, list[tuple[Path, Path | None]]]:
    """SegNet-style train.txt / val.txt / test.txt: lines 'IMAGE [MASK]', with paths as written on
    the authors' machine (/SegNet/CamVid/train/X.png); each maps to ROOT/<folder>/<file>."""
    out = {}
    for split in ("train", "val", "test"):
        path = root / f"{split}.txt"
        if not path.is_file():
            continue
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise CamsegError(f"{path}: cannot read split list ({e.__class__.__name__}: {e})") from None
        entries = []
        for n, line in enumerate(lines, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) > 2:
                raise CamsegError(f"{path}: line {n}: expected 'IMAGE [MASK]', got {line.strip()!r}")
            image, mask = (_local(root, p) for p in (parts + [""])[:2])
            entries.append((image, mask))
        out[split] = entries
    return out


def _local(root: Path, listed: str) -> Path | None:
    """Last two parts of a listed path (folder/file) under root; '' -> None."""
    if not listed:
        return None
    parts = PurePosixPath(listed.replace("\\", "/")).parts
    return root.joinpath(*[p for p in parts[-2:] if p not in ("/", "..", ".")])


# --------------------------------------------------------------------------------------- leakage


@dataclasses.dataclass(frozen=True)
class Leak:
    """One val/test image and its nearest train image by perceptual-hash distance."""

    split: str
    image: str
    nearest: str
    distance: int


def _dct_matrix(n: int = 32) -> np.ndarray:
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    return np.cos(np.pi * (2 * i + 1) * k / (2 * n))


_DCT = _dct_matrix()
_BITS = 1 << np.arange(63, -1, -1, dtype=np.uint64)


def phash(path: Path | str) -> int:
    """64-bit DCT perceptual hash: 32x32 grey thumbnail, 8x8 lowest frequencies vs their median."""
    with opened(path) as img:  # never a FIFO or a dangling link; every failure one line naming the file
        img.draft("L", (64, 64))  # JPEG decodes at reduced size; no-op for PNG
        grey = img.convert("L").resize((32, 32), Image.Resampling.BOX)
    low = (_DCT @ np.asarray(grey, dtype=np.float64) @ _DCT.T)[:8, :8].ravel()
    bits = low > np.median(low[1:])  # the DC term says only how bright the image is
    return int(_BITS[bits].sum())


_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances (len(a), len(b)) between two arrays of uint64 hashes."""
    x = a[:, None] ^ b[None, :]
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x).astype(np.int64)
    return _POPCOUNT8[x.view(np.uint8)].reshape(*x.shape, 8).sum(-1)


def _hashes(refs: list[Any], label: str, track: Track | None) -> np.ndarray:
    items = track(refs, f"hashing {label}") if track else refs
    return np.array([phash(r.image) for r in items], dtype=np.uint64)


def leakage_report(
    info: DatasetInfo, threshold: int = DEFAULT_LEAK_THRESHOLD, track: Track | None = None
) -> dict[str, Any]:
    """Per val/test image, its nearest train image by perceptual hash; how many are <= threshold."""
    if not 0 <= threshold <= 64:
        raise CamsegError(f"--leakage-threshold {threshold}: must be 0..64 (bits of a 64-bit hash)")
    train = info.splits.get("train") or []
    if not train:
        raise CamsegError(f"{info.root}: no train split — leakage is measured against train images")
    train_hash = _hashes(train, "train", track)
    train_seqs = set(sequence_counts(train))
    report: dict[str, Any] = {"threshold": threshold, "hash": "dct-64", "train_images": len(train)}
    leaks: list[Leak] = []
    splits = {}
    for split in HELD_OUT:
        refs = info.splits.get(split) or []
        if not refs:
            continue
        dist = hamming(_hashes(refs, split, track), train_hash)
        nearest = dist.argmin(axis=1)
        best = dist[np.arange(len(refs)), nearest]
        rows = [
            Leak(split, str(r.image), str(train[j].image), int(d)) for r, j, d in zip(refs, nearest, best)
        ]
        leaks += rows
        leaked = int((best <= threshold).sum())
        splits[split] = {
            "images": len(refs),
            "near_duplicates": leaked,
            "fraction": leaked / len(refs),
            "median_distance": float(np.median(best)),
            "min_distance": int(best.min()),
            "sequences_shared_with_train": sorted(set(sequence_counts(refs)) & train_seqs),
        }
    report["splits"] = splits
    report["images"] = [dataclasses.asdict(leak) for leak in sorted(leaks, key=lambda x: x.distance)]
    return report
