"""`camseg train --config FILE`: a run or a whole study from a TOML, YAML or JSON file.

The keys are config.json's (TrainConfig's fields), so `--config OUT/runs/<run>/config.json` re-runs a
run exactly; a study file may also give `aug` as a list with `seeds` (every aug x every seed, as
--sweep --seeds). Flags given on the command line override the file.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

import tomllib

from camseg_cli.core.checks import check_flag, check_number, shown
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.sizes import parse_size
from camseg_cli.core.suggest import did_you_mean
from camseg_cli.core.train.config import TrainConfig, check_field
from camseg_cli.core.train.text_guards import MAX_BYTES, MAX_VALUES, _text, _TooBig, _yaml  # noqa: F401

STUDY_KEYS = {"seeds": "a list of whole numbers", "sweep": "true or false"}
_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _parse(path: Path) -> Any:
    text = _text(path)
    suffix = path.suffix.lower()
    kind = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}.get(suffix)
    if kind is None:
        raise CamsegError(f"{path}: a config file is .toml, .yaml/.yml or .json")
    try:
        if kind == "TOML":
            return tomllib.loads(text)
        if kind == "YAML":
            return _yaml(text)
        return json.loads(text)
    except _TooBig:
        raise CamsegError(
            f"{path}: expands to more than {MAX_VALUES:,} values (YAML anchors and aliases?) — "
            "a config file holds a few settings"
        ) from None
    except RecursionError:
        raise CamsegError(f"{path}: not valid {kind} (nested too deeply)") from None
    except Exception as e:  # TOMLDecodeError, JSONDecodeError, yaml.YAMLError and its kin, ValueError
        first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise CamsegError(f"{path}: not valid {kind} ({textwrap.shorten(first, 120)})") from None


def _expected(field: dataclasses.Field) -> tuple[type, ...]:
    """The Python types a field takes, from its annotation ('str | None' -> (str, NoneType))."""
    hint = typing.get_type_hints(TrainConfig)[field.name]
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return tuple(typing.get_origin(a) or a for a in args)


def _size(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, str):
        try:
            return parse_size(value)
        except CamsegError as e:
            raise CamsegError(f"{where}: {e}") from None
    if isinstance(value, list | tuple) and len(value) == 2 and all(type(v) is int for v in value):
        return tuple(value)
    raise CamsegError(f"{where}: size must be [height, width] or 'HxW', not {shown(value)}")


def _check(key: str, value: Any, expected: tuple[type, ...], where: str) -> Any:
    if key == "size":
        value = _size(value, where)
    elif key == "aug" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        for aug in value:  # a study's list of presets
            check_field("aug", aug, where)
        return value
    elif value is None and type(None) in expected:
        return None
    elif not any(_is(value, t) for t in expected if t is not type(None)):
        kind = " or ".join(_KINDS.get(t, t.__name__) for t in expected if t is not type(None))
        raise CamsegError(f"{where}: {key} must be {kind}, not {shown(value)}")
    check_field(key, value, where)
    return float(value) if float in expected and type(value) is int else value


def _is(value: Any, t: type) -> bool:
    if t is float:
        return type(value) in (int, float)
    if t is int:
        return type(value) is int
    return isinstance(value, t)


def _seeds(value: Any, where: str) -> list[int]:
    if isinstance(value, int | str) and not isinstance(value, bool):
        value = [value]
    if not (isinstance(value, list) and all(type(v) is int for v in value)):
        raise CamsegError(f"{where}: seeds must be {STUDY_KEYS['seeds']}, not {shown(value)}")
    for seed in value:
        check_number("seeds", seed, where)
    return value


def read_config_file(path: Path | str) -> dict[str, Any]:
    """The file's settings, checked: {TrainConfig field or study key: value}. Unknown keys and values
    of the wrong type or out of range are one-line errors naming the key and the file."""
    path = Path(path)
    raw = _parse(path)
    if not isinstance(raw, dict):
        raise CamsegError(f"{path}: a config file holds key = value settings, not {shown(raw)}")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    where = str(path)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key).replace("-", "_") if isinstance(key, str | int) else repr(type(key).__name__)
        if key == "seeds":
            out[key] = _seeds(value, where)
        elif key == "sweep":
            out[key] = check_flag(key, value, where)
        elif key in fields:
            out[key] = _check(key, value, _expected(fields[key]), where)
        else:
            known = [*fields, *STUDY_KEYS]
            raise CamsegError(
                f"{path}: unknown key {shown(key)}{did_you_mean(key[:100], known)} — the keys are "
                "config.json's: " + ", ".join(known)
            )
    return out


def merge_file(
    settings: dict[str, Any], fields: dict[str, Any], explicit: set[str] | frozenset[str], sweep: bool,
    seeds: str,
) -> tuple[dict[str, Any], bool, str]:  # fmt: skip
    """TrainConfig's fields, --sweep and --seeds with the file's `settings` wherever no flag was given
    (`explicit`: the options given on the command line). A study file's list of augs is one arm each."""
    merged = dict(fields)
    for key, value in settings.items():
        if key in merged and key not in explicit:
            merged[key] = value
    if isinstance(merged.get("aug"), list):  # a study file's list of presets: one arm each
        merged["aug"] = ",".join(merged["aug"])
        sweep = sweep or settings.get("sweep", True)
    elif "sweep" not in explicit:
        sweep = bool(settings.get("sweep", sweep))
    if "seeds" in settings and "seeds" not in explicit:
        seeds = ",".join(map(str, settings["seeds"]))
    return merged, sweep, seeds
