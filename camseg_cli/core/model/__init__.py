"""Model: build_model (torchvision DeepLabV3), checkpoints, the one inference path, device choice, export
and predict. Imports `data` and the shared `core` pieces; never `train` or `evaluation`.
"""
