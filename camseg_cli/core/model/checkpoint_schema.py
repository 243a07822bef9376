"""The checkpoint's schema: every field camseg reads, checked once on load (type, range, size).

load_checkpoint calls `validate` and nothing else checks a checkpoint's fields, so evaluate, predict,
compare, export and train --resume refuse a damaged or hand-edited file with the same one line:
`<file>: checkpoint field <name> must be ..., not <a short prefix of the value>`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from camseg_cli.core.checks import RULES, Rule, check_flag, check_number, check_text, shown
from camseg_cli.core.choices import ARCHS
from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.sizes import MAX_SIDE

FORMAT = "camseg-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "model", "arch", "classes", "image_size", "normalization")
HEAD = "classifier.4.weight"  # DeepLabHead's last 1x1 conv: one output per class
_SIDE = Rule(1, MAX_SIDE)
_COUNT = Rule(0, 10_000_000)
_SECONDS = Rule(0.0, 1e9, whole=False)
_STD = Rule(0.0, 1e6, whole=False, above=True)
_MEAN = Rule(-1e6, 1e6, whole=False)
_FIELD = "checkpoint field "  # how a message names a field: `<file>: checkpoint field <name> ...`


def _fail(where: str, name: str, what: str, value: Any) -> CamsegError:
    return CamsegError(f"{where}: checkpoint field {name} must be {what}, not {shown(value)}")


def _normalization(value: Any, where: str) -> None:
    if not isinstance(value, dict) or not {"mean", "std"} <= set(value):
        raise _fail(where, "normalization", "a table with mean and std", value)
    for key, rule in (("mean", _MEAN), ("std", _STD)):
        v = value[key]
        if not (isinstance(v, list | tuple) and len(v) == 3 and all(rule.holds(x) for x in v)):
            raise _fail(where, f"normalization.{key}", f"3 numbers, each {rule.describe()}", v)


def _image_size(value: Any, where: str) -> None:
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(_SIDE.holds(v) for v in value)):
        raise _fail(where, "image_size", f"[height, width], each from 1 to {MAX_SIDE} pixels", value)


def _history(value: Any, where: str) -> None:
    if not (isinstance(value, list) and all(isinstance(h, dict) for h in value)):
        raise _fail(where, "history", "a list of per-epoch records", value)
    for h in value:
        for key in ("seconds", "val_miou"):
            if key in h and (isinstance(h[key], bool) or not isinstance(h[key], int | float)):
                raise _fail(where, f"history.{key}", "a number", h[key])


def _model(value: Any, where: str) -> None:
    if not isinstance(value, dict) or not value:
        raise CamsegError(f"{where}: checkpoint field model is not a state dict (names to tensors)")
    bad = next(
        (k for k, v in value.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))), None
    )
    if bad is not None:
        raise _fail(where, f"model[{shown(bad)}]", "a tensor", value[bad])


# Fields of the training config that evaluate and compare read: their types, checked like the rest.
_CONFIG_TEXT = ("split_by", "val_sequences", "test_sequences", "aug", "arch", "layout", "data", "run")


def _config(value: Any, where: str) -> None:
    _table("config", value, where)
    for key, v in value.items():
        name = f"config.{key}"
        if key in _CONFIG_TEXT:
            check_text(_FIELD + name, v, where, optional=True)
        elif key in RULES and v is not None:
            _number(name, v, RULES[key], where)
        elif key == "size" and not (
            isinstance(v, list | tuple) and len(v) == 2 and all(_SIDE.holds(x) for x in v)
        ):
            raise _fail(where, name, f"[height, width], each from 1 to {MAX_SIDE} pixels", v)


def _number(name: str, value: Any, rule: Rule, where: str) -> None:
    check_number(_FIELD + name, value, where, rule=rule)


_OPTIONAL: dict[str, Callable[[Any, str], None]] = {
    "aux_loss": lambda v, w: check_flag(_FIELD + "aux_loss", v, w),
    "aug": lambda v, w: check_text(_FIELD + "aug", v, w),
    "run": lambda v, w: check_text(_FIELD + "run", v, w),
    "data": lambda v, w: check_text(_FIELD + "data", v, w),
    "layout": lambda v, w: check_text(_FIELD + "layout", v, w, optional=True),
    "epoch": lambda v, w: _number("epoch", v, _COUNT, w),
    "epochs": lambda v, w: _number("epochs", v, _COUNT, w),
    "seed": lambda v, w: _number("seed", v, RULES["seed"], w),
    "train_seconds": lambda v, w: _number("train_seconds", v, _SECONDS, w),
    "history": _history,
    "config": _config,
    "resume": lambda v, w: _table("resume", v, w),
}


def _table(name: str, value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _fail(where, name, "a table", value)


def validate(ckpt: Any, path: Path) -> dict[str, Any]:
    """`ckpt` if it is a camseg checkpoint whose every field camseg reads is sound, with `classes_map`
    (the ClassMap) and `path` added; else one CamsegError naming the file and the field."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CamsegError(f"{path}: not a camseg checkpoint (no format={FORMAT!r} record)")
    version = ckpt.get("version")
    if type(version) is not int or version < 1:
        raise CamsegError(f"{path}: checkpoint has an invalid format version {shown(version)}")
    if version > VERSION:
        raise CamsegError(
            f"{path}: checkpoint format version {version} is newer than this camseg reads ({VERSION}) — "
            "upgrade camseg (pip install -U camseg)"
        )
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CamsegError(f"{path}: checkpoint lacks {', '.join(missing)}")
    where = str(path)
    if ckpt["arch"] not in ARCHS:
        raise CamsegError(f"{path}: checkpoint's arch {shown(ckpt['arch'])} is none of {', '.join(ARCHS)}")
    _model(ckpt["model"], where)
    _image_size(ckpt["image_size"], where)
    _normalization(ckpt["normalization"], where)
    for key, check in _OPTIONAL.items():
        if key in ckpt:
            check(ckpt[key], where)
    try:
        classes = ClassMap.from_dict(ckpt["classes"])
    except CamsegError as e:
        raise CamsegError(f"{path}: {e}") from None
    except Exception:  # a record of the wrong shape altogether (a list, a number, ...)
        raise CamsegError(f"{path}: malformed class map in checkpoint field classes") from None
    head = ckpt["model"].get(HEAD)
    if head is not None and (head.ndim < 1 or head.shape[0] != classes.num_classes):
        raise CamsegError(
            f"{path}: weights do not fit {ckpt['arch']} with {classes.num_classes} classes: checkpoint field "
            f"classes lists {classes.num_classes} classes but the model's head has {head.shape[0]} outputs"
        )
    ckpt["classes_map"] = classes
    ckpt.setdefault("path", str(path))
    return ckpt
