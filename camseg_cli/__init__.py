"""camseg: train, evaluate and compare DeepLabV3 segmentation models on driving scenes."""

__version__ = "0.1.0"
