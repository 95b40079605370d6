"""ttrnn: Tensor-Train layers and TT recurrent networks for Keras 3.

Runs on the JAX, TensorFlow and PyTorch backends (select with the
`KERAS_BACKEND` environment variable). The TT-matrix math lives in
`ttrnn.tt`, the layers in `ttrnn.layers` (re-exported here).
"""

from ttrnn import activations
from ttrnn import tt
from ttrnn.compress import compress
from ttrnn.layers import TTGRU
from ttrnn.layers import TTLSTM
from ttrnn.layers import TTDense
from ttrnn.layers import TTGRUCell
from ttrnn.layers import TTLSTMCell
from ttrnn.layers import TTSimpleRNN
from ttrnn.layers import TTSimpleRNNCell
from ttrnn.summary import summary

__version__ = "0.1.0"

__all__ = [
    "TTDense",
    "TTGRU",
    "TTGRUCell",
    "TTLSTM",
    "TTLSTMCell",
    "TTSimpleRNN",
    "TTSimpleRNNCell",
    "activations",
    "compress",
    "summary",
    "tt",
    "__version__",
]
