"""Conversions of zoo models between PyTorch, ONNX and Keras 3, each verified for parity.

Kept import-free: ``cli.py`` imports ``exporters.commands`` at start-up, and torch, onnx,
onnxruntime and keras load only inside the functions that need them.
"""
