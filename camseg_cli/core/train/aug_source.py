"""--aug FILE read once: the config-file guards (size, UTF-8, YAML tags and alias bombs), then the
pipeline's checks (data/augment/pipeline_file.py); a TrainConfig keeps the canonical content, not the path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from camseg_cli.core.data.augment.names import PIPELINE_PREFIX, is_pipeline
from camseg_cli.core.errors import CamsegError

WHAT = "augmentation pipeline file"


def read_pipeline(path: Path | str) -> str:
    """Canonical content of a pipeline file (.json, .yaml or .yml, A.save's format)."""
    from camseg_cli.core.train.text_guards import MAX_VALUES, _text, _TooBig, _yaml

    path = Path(path)
    text = _text(path, WHAT)
    kind = {".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}.get(path.suffix.lower())
    if kind is None:
        raise CamsegError(f"{path}: an {WHAT} is .json, .yaml or .yml (albumentations' A.save)")
    try:
        raw = _yaml(text) if kind == "YAML" else json.loads(text)
    except _TooBig:
        raise CamsegError(
            f"{path}: expands to more than {MAX_VALUES:,} values (YAML anchors and aliases?)"
        ) from None
    except RecursionError:
        raise CamsegError(f"{path}: not valid {kind} (nested too deeply)") from None
    except Exception as e:  # JSONDecodeError, yaml.YAMLError (a !!python tag among them)
        first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise CamsegError(f"{path}: not valid {kind} ({textwrap.shorten(first, 120)})") from None
    from camseg_cli.core.data.augment.pipeline_file import canonical_pipeline

    return canonical_pipeline(raw, str(path))


def resolve_aug(aug: str, label: str, pipeline: str) -> tuple[str, str, str]:
    """(aug, aug_label, aug_pipeline) of a TrainConfig: a single pipeline file becomes its
    'pipeline:<hash>' with its stem and content; a preset clears both; a read one must match its hash."""
    item = aug.strip()
    if not item.startswith(PIPELINE_PREFIX) and (not is_pipeline(item) or "," in item or "+" in item):
        return aug, "", ""  # presets, or a sweep list (split before it trains): albumentations not loaded
    from camseg_cli.core.data.augment.pipeline_file import pipeline_id

    if item.startswith(PIPELINE_PREFIX):
        if not pipeline or pipeline_id(pipeline) != item:
            raise CamsegError(f"aug {item}: its aug_pipeline content is missing or does not match its hash")
        return item, label or item, pipeline
    content = read_pipeline(item)
    return pipeline_id(content), Path(item).stem, content
