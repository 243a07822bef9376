"""Each run's predicted masks for a few evenly spaced images of the split, for compare's samples.png.

Runs every checkpoint of a comparison as evaluate runs it; the report only draws what this returns.
"""

from __future__ import annotations

from typing import Any

import torch

from camseg_cli.core.data.loading.tensors import resize_image
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.samples import evenly_spaced, read_sample
from camseg_cli.core.model.checkpoint import load_checkpoint
from camseg_cli.core.model.inference import amp_dtype, checkpoint_inference, predict_batch

# (samples: [(name, image, mask)], predictions: {run name: [mask per sample]})
SampleMasks = tuple[list, dict[str, list]]


def sample_predictions(c: Any, count: int, device: torch.device) -> SampleMasks:
    """The first `count` images of the split (evenly spaced), their labels, and each run's prediction."""
    result = c.baseline.result
    info = open_dataset(result.data, result.stamp.get("layout"), **result.stamp.get("split", {}))
    skipped = set(result.stamp.get("skipped", []))  # left out by --skip-bad: unreadable
    refs = [r for r in info.samples(c.split) if r.name not in skipped]
    samples = [(ref.name, *read_sample(ref, info.classes)) for ref in evenly_spaced(refs, count)]
    preds: dict[str, list] = {}
    for r in c.runs:
        ckpt = load_checkpoint(r.path)
        model, to_input = checkpoint_inference(ckpt, device)  # as evaluate runs it
        batch = to_input(torch.stack([resize_image(img, ckpt["image_size"]) for _, img, _ in samples]))
        out = predict_batch(model, batch, [m.shape for _, _, m in samples], amp_dtype(device))
        preds[r.name] = [p.cpu().numpy() for p in out]
        del model
    return samples, preds
