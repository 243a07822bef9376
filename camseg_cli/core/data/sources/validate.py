"""--skip-bad: read every sample of a split once, up front, and set aside the ones that cannot be used."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from camseg_cli.core.cpus import pool_size
from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.data.sources.samples import DatasetInfo, SampleRef, read_sample, special_file
from camseg_cli.core.errors import CamsegError

log = logging.getLogger("camseg")


def _problem(ref: SampleRef, classes: ClassMap) -> str | None:
    try:
        read_sample(ref, classes)
    except CamsegError as e:
        return str(e)
    return None


def check_samples(
    refs: Sequence[SampleRef], classes: ClassMap
) -> tuple[list[SampleRef], list[tuple[SampleRef, str]]]:
    """(good samples, [(bad sample, why)]): each image and mask decoded as training would read it.

    Threads, because PNG decoding and the label lookup release the GIL; order is kept.
    """
    workers = pool_size(8)
    with ThreadPoolExecutor(workers) as pool:
        problems = list(pool.map(lambda r: _problem(r, classes), refs))
    good = [r for r, p in zip(refs, problems) if p is None]
    bad = [(r, p) for r, p in zip(refs, problems) if p is not None]
    return good, bad


def usable_samples(refs: Sequence[SampleRef], classes: ClassMap, split: str) -> list[SampleRef]:
    """The good samples of a split; each bad one is logged as a warning; none good is an error."""
    good, bad = check_samples(refs, classes)
    for _, why in bad:
        log.warning("skipped bad sample (%s): %s", split, why)
    if bad:
        log.warning("--skip-bad: %d of %d %s samples skipped", len(bad), len(refs), split)
    if not good:
        raise CamsegError(f"every one of the {len(refs)} {split} samples is bad; the first: {bad[0][1]}")
    return good


def check_files(refs: Sequence[SampleRef]) -> None:
    """Stop at the first image or mask that is no regular file (a dangling link, a loop, a FIFO): stat
    only, so a split without --skip-bad fails before any work rather than halfway through an epoch."""
    for ref in refs:
        for path in (ref.image, ref.mask):
            if why := special_file(path):
                raise CamsegError(f"{path}: {why} — mend it, or pass --skip-bad to leave the sample out")


def drop_bad(info: DatasetInfo, splits: Sequence[str]) -> DatasetInfo:
    """`info` with the unusable samples of `splits` left out."""
    kept = dict(info.splits)
    for split in splits:
        kept[split] = usable_samples(info.samples(split), info.classes, split)
    return dataclasses.replace(info, splits=kept)
