"""`camseg train --config FILE`: a run or a whole study from a TOML, YAML or JSON file.

The keys are config.json's (TrainConfig's fields), so `--config OUT/runs/<run>/config.json` re-runs a
run exactly; a study file may also give `aug` as a list with `seeds` (every aug x every seed, as
--sweep --seeds). Flags given on the command line override the file.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

import tomllib

from camseg_cli.core.errors import CamsegError
from camseg_cli.core.suggest import did_you_mean
from camseg_cli.core.train.config import TrainConfig

STUDY_KEYS = {"seeds": "a list of whole numbers", "sweep": "true or false"}
_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        if suffix == ".json":
            return json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as e:
        raise CamsegError(f"{path}: not valid {suffix[1:].upper()} ({str(e).splitlines()[0]})") from None
    except Exception as e:  # yaml.YAMLError and its kin
        raise CamsegError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    raise CamsegError(f"{path}: a config file is .toml, .yaml/.yml or .json")


def _expected(field: dataclasses.Field) -> tuple[type, ...]:
    """The Python types a field takes, from its annotation ('str | None' -> (str, NoneType))."""
    hint = typing.get_type_hints(TrainConfig)[field.name]
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return tuple(typing.get_origin(a) or a for a in args)


def _check(key: str, value: Any, expected: tuple[type, ...], path: Path) -> Any:
    if key == "size":
        if isinstance(value, str):
            from camseg_cli.core.sizes import parse_size

            return tuple(parse_size(value))
        if isinstance(value, list | tuple) and len(value) == 2 and all(type(v) is int for v in value):
            return tuple(value)
        raise CamsegError(f"{path}: size must be [height, width] or 'HxW', not {value!r}")
    if key == "aug" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value  # a study's list of presets
    if value is None and type(None) in expected:
        return None
    ok = any(
        (t is float and type(value) in (int, float))
        or (t is int and type(value) is int)
        or (t not in (int, float) and isinstance(value, t))
        for t in expected
        if t is not type(None)
    )
    if not ok:
        kind = " or ".join(_KINDS.get(t, t.__name__) for t in expected if t is not type(None))
        raise CamsegError(f"{path}: {key} must be {kind}, not {value!r}")
    return float(value) if float in expected and type(value) is int else value


def read_config_file(path: Path | str) -> dict[str, Any]:
    """The file's settings, checked: {TrainConfig field or study key: value}. Unknown keys and values
    of the wrong type are one-line errors naming the key and the file."""
    path = Path(path)
    if not path.is_file():
        raise CamsegError(f"{path}: config file not found")
    raw = _parse(path)
    if not isinstance(raw, dict):
        raise CamsegError(f"{path}: a config file holds key = value settings, not {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key).replace("-", "_")
        if key == "seeds":
            if isinstance(value, int | str) and not isinstance(value, bool):
                value = [value]
            if not (isinstance(value, list) and all(type(v) is int for v in value)):
                raise CamsegError(f"{path}: seeds must be {STUDY_KEYS['seeds']}, not {value!r}")
            out[key] = value
        elif key == "sweep":
            out[key] = _check(key, value, (bool,), path)
        elif key in fields:
            out[key] = _check(key, value, _expected(fields[key]), path)
        else:
            known = [*fields, *STUDY_KEYS]
            raise CamsegError(
                f"{path}: unknown key {key!r}{did_you_mean(key, known)} — the keys are config.json's: "
                + ", ".join(known)
            )
    return out
