"""Every number a user or a file gives camseg, checked in one place: type, finiteness and range.

The CLI checks its options here before any heavy import or any work; config files (train --config),
TrainConfig and checkpoint records check the same names with the same rules, so `--seed -1`, `seed = -1`
in a TOML file and a checkpoint whose seed is -1 are refused alike. Imports nothing beyond the standard
library, so a bad number answers at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from camseg_cli.core.errors import CamsegError

# numpy's legacy seeding (np.random.seed, used by DataLoader workers) takes 0..2^32-1; torch takes
# 64 bits. One range for every seed, so a seed that works in one command works in all.
SEED_MAX = 2**32 - 1
PREFIX = 40  # characters of a text value quoted in a message


@dataclass(frozen=True)
class Rule:
    """A number from lo to hi (inclusive; above=True makes lo exclusive), whole or any finite number."""

    lo: float
    hi: float
    whole: bool = True
    above: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a finite number"
        hi = f"{self.hi:g}" if not self.whole else str(int(self.hi))
        lo = f"{self.lo:g}" if not self.whole else str(int(self.lo))
        if math.isinf(self.hi):
            return f"{kind} above {lo}" if self.above else f"{kind} from {lo} up"
        return f"{kind} above {lo} and at most {hi}" if self.above else f"{kind} from {lo} to {hi}"

    def holds(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.whole and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return (value > self.lo if self.above else value >= self.lo) and value <= self.hi


def _whole(lo: int, hi: int) -> Rule:
    return Rule(lo, hi)


def _number(lo: float, hi: float, above: bool = False) -> Rule:
    return Rule(lo, hi, whole=False, above=above)


# Generous bounds: wide enough for any real use, narrow enough that a typo cannot ask for terabytes.
RULES: dict[str, Rule] = {
    "seed": _whole(0, SEED_MAX),
    "seeds": _whole(0, SEED_MAX),
    "epochs": _whole(1, 100_000),
    "batch_size": _whole(1, 65_536),
    "accumulate": _whole(1, 65_536),
    "patience": _whole(0, 100_000),
    "workers": _whole(0, 1024),
    # No upper bound: a huge finite rate is a poor choice, not a malformed one; training stops on its
    # first non-finite loss with a line that says to lower --lr (tests/test_robustness.py).
    "lr": _number(0.0, math.inf, above=True),
    "weight_decay": _number(0.0, 100.0),
    "warmup_epochs": _number(0.0, 100_000.0),
    "bootstrap": _whole(0, 100_000),  # the draws are a (reps x images) index matrix: 100k x 700 = 560 MB
    "block": _whole(1, 1_000_000),
    "min_effect": _number(0.0, 100.0),  # mIoU points
    "samples": _whole(0, 10_000),
    "alpha": _number(0.0, 1.0),
    "dark_threshold": _number(0.0, 255.0),  # mean luminance, 0-255
    "leakage_threshold": _whole(0, 64),  # bits of a 64-bit hash
    "images": _whole(3, 10_000_000),
    "timeout": _number(0.0, 86_400.0, above=True),  # seconds
}


def shown(value: Any, width: int = PREFIX) -> str:
    """A short, safe rendering of any value: never the repr of a huge string, number or structure."""
    if isinstance(value, bool) or value is None:
        return repr(value).lower() if value is not None else "null"
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 128 else f"a {value.bit_length()}-bit number"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value[:width]) + (f"… ({len(value)} characters)" if len(value) > width else "")
    if isinstance(value, list | tuple):
        if len(value) <= 4 and all(isinstance(v, bool | int | float) or v is None for v in value):
            return "[" + ", ".join(shown(v) for v in value) + "]"
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"a table of {len(value)} keys"
    return f"a {type(value).__name__}"


def label(name: str, where: str | None = None) -> str:
    """How a message names a setting: `--flag` on the command line, `FILE: key` in a file."""
    return f"{where}: {name}" if where else f"--{name.replace('_', '-')}"


def check_number(name: str, value: Any, where: str | None = None, rule: Rule | None = None) -> Any:
    """`value` if it obeys the rule for `name` (RULES), else a CamsegError naming `where` and `name`."""
    rule = rule or RULES[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or (rule.whole and type(value) is float):
        kind = "a whole number" if rule.whole else "a number"
        raise CamsegError(f"{label(name, where)} must be {kind}, not {shown(value)}")
    if not rule.holds(value):
        raise CamsegError(f"{label(name, where)} must be {rule.describe()}, not {shown(value)}")
    return value


def check_options(**values: Any) -> None:
    """Command-line options by name (None = not given): each checked against RULES before any work."""
    for name, value in values.items():
        if value is not None:
            check_number(name, value)


def parse_seeds(text: str | Sequence[int] | None) -> tuple[int, ...]:
    """'0,1,2' (or '0 1 2', or a list) -> (0, 1, 2); repeats dropped, order kept; '' -> ()."""
    if text is None:
        return ()
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    try:
        seeds = [int(s) for s in items]
    except (TypeError, ValueError):
        raise CamsegError(f"--seeds {shown(text)}: whole numbers separated by commas, e.g. 0,1,2") from None
    for seed in seeds:
        check_number("seeds", seed)
    return tuple(dict.fromkeys(seeds))


def check_flag(name: str, value: Any, where: str | None = None) -> bool:
    if not isinstance(value, bool):
        raise CamsegError(f"{label(name, where)} must be true or false, not {shown(value)}")
    return value


def check_text(name: str, value: Any, where: str | None = None, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise CamsegError(f"{label(name, where)} must be a string, not {shown(value)}")
    return value
