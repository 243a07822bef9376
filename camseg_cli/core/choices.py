"""The names a user picks from on the command line, and defaults, in a module that imports nothing.

Commands write their --help from these before torch, torchvision or albumentations load, so `camseg
--help` and a mistyped option answer at once; the modules that implement each choice import their
names from here, so each list exists once.
"""

from __future__ import annotations

# Augmentation presets (core/data/augment/presets.py): the original study's four, `all` = those four together,
# then the two it wished it had tried.
AUG_STUDY = ("flip", "crop", "perspective", "jitter")
AUG_EXTRA = ("sharpen", "contrast")
# Presets that train on a corruption family of the robustness suite (issue 23), each tagged with it.
AUG_ROBUST = {
    "lowlight": "camera",
    "noise": "noise",
    "blur": "blur",
    "weather": "weather",
    "compression": "digital",
}
AUG_PRESETS = ("none", *AUG_STUDY, "all", *AUG_EXTRA, *AUG_ROBUST)
# Which corruption family a preset trains on, for compare's "trained on this family" mark: the robust
# presets, and jitter and contrast, whose brightness / contrast / gamma draws are the digital family's
# brightness and contrast corruptions at milder strength.
AUG_FAMILIES = {**AUG_ROBUST, "jitter": "digital", "contrast": "digital"}

# The corruption suite (core/data/corruption/, parameters in table.py): families and their members.
CORRUPTION_FAMILIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "motion_blur", "zoom_blur", "glass_blur"),
    "weather": ("snow", "frost", "fog", "spatter", "rain", "sun_glare"),
    "digital": ("brightness", "contrast", "pixelate", "jpeg", "elastic"),
    "camera": ("low_light", "windscreen_stripes", "lens_distortion"),
}
CORRUPTIONS = tuple(n for names in CORRUPTION_FAMILIES.values() for n in names)

ARCHS = ("resnet50", "resnet101", "mobilenet_v3_large")  # DeepLabV3 backbones (core/model/checkpoint.py)
WEIGHTS = ("coco", "imagenet", "none")  # named starting weights; a checkpoint path also works
OPTIMIZERS = ("adamw", "adam")  # core/train/optim.py
SCHEDULES = ("poly", "cosine")  # learning-rate schedules after warm-up (core/train/optim.py)
PREDICT_OUTPUTS = (
    "index",
    "color",
    "overlay",
)  # what `camseg predict` writes per image (model/predict.py)
EXPORT_FORMATS = ("onnx", "torchscript")  # core/model/export.py
CACHE_MODES = ("none", "ram", "disk")  # decoded samples (core/data/loading/cache.py)

SLICES = ("dark", "sequence")  # compare --slice: real conditions scored from cached per-image matrices
DARK_THRESHOLD = 40.0  # mean luminance (0-255) below which `camseg stats` calls an image dark

# TrainConfig fields that change how a run executes, not what it computes: a resumed run may take new
# values, and compare puts runs differing only in these (and the seed) in one arm.
RUNTIME_FIELDS = ("data", "workers", "threads", "cache", "device", "compile", "out", "log", "keep_last")

VOID_TAG = "void, not scored"  # beside the void class's name in stats, evaluate and previews
LOGS = ("none", "tensorboard")  # camseg train --log: where live training curves go besides metrics.csv
