"""Corruption and severity specs (`--corrupt all|FAMILY|NAMES`, `--severity 3|1-5`), checked without
loading albumentations or torch, so a mistyped name is refused at once."""

from __future__ import annotations

from camseg_cli.core.choices import CORRUPTION_FAMILIES, CORRUPTIONS
from camseg_cli.core.data.corruption.table import SEVERITIES
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.suggest import did_you_mean


def parse_corrupt(spec: str) -> tuple[str, ...]:
    """'all', a family ('blur'), names ('fog,jpeg') or a mix -> corruption names in suite order."""
    items = [s.strip().lower().replace("-", "_") for s in spec.replace("+", ",").split(",") if s.strip()]
    if not items:
        raise CamsegError("--corrupt is empty — give all, a family or corruption names")
    chosen: set[str] = set()
    for item in items:
        if item == "all":
            chosen |= set(CORRUPTIONS)
        elif item in CORRUPTION_FAMILIES:
            chosen |= set(CORRUPTION_FAMILIES[item])
        elif item in CORRUPTIONS:
            chosen.add(item)
        else:
            raise CamsegError(
                f"--corrupt: unknown corruption {item!r} — choose all, a family "
                f"({', '.join(CORRUPTION_FAMILIES)}) or names ({', '.join(CORRUPTIONS)})"
                + did_you_mean(item, (*CORRUPTION_FAMILIES, *CORRUPTIONS))
            )
    return tuple(n for n in CORRUPTIONS if n in chosen)


def parse_severity(spec: str) -> tuple[int, ...]:
    """'3' -> (3,); '1-5' -> (1, 2, 3, 4, 5); '1,3,5' -> (1, 3, 5)."""
    out: set[int] = set()
    try:
        for part in (p.strip() for p in str(spec).split(",") if p.strip()):
            lo, _, hi = part.partition("-")
            out |= set(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise CamsegError(f"--severity {spec!r}: give a number 1-5 or a range such as 1-5") from None
    if not out or not out <= set(SEVERITIES):
        raise CamsegError(f"--severity {spec!r}: severities run from 1 to 5")
    return tuple(sorted(out))
