"""Keras 3 layers with Tensor-Train kernels."""

from ttrnn.layers.tt_dense import TTDense

__all__ = ["TTDense"]
