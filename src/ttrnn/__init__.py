"""ttrnn: Tensor-Train layers and TT recurrent networks for Keras 3.

Runs on the JAX, TensorFlow and PyTorch backends (select with the
`KERAS_BACKEND` environment variable). The TT-matrix math lives in
`ttrnn.tt`, the layers in `ttrnn.layers` (re-exported here).
"""

from ttrnn import tt
from ttrnn.layers import TTDense

__version__ = "0.1.0"

__all__ = ["TTDense", "tt", "__version__"]
