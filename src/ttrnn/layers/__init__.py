"""Keras 3 layers with Tensor-Train kernels."""

from ttrnn.layers.tt_conv2d import TTConv2D
from ttrnn.layers.tt_dense import TTDense
from ttrnn.layers.tt_embedding import TTEmbedding
from ttrnn.layers.tt_gru import TTGRU
from ttrnn.layers.tt_gru import TTGRUCell
from ttrnn.layers.tt_lstm import TTLSTM
from ttrnn.layers.tt_lstm import TTLSTMCell
from ttrnn.layers.tt_simple_rnn import TTSimpleRNN
from ttrnn.layers.tt_simple_rnn import TTSimpleRNNCell

__all__ = [
    "TTGRU",
    "TTGRUCell",
    "TTLSTM",
    "TTLSTMCell",
    "TTSimpleRNN",
    "TTSimpleRNNCell",
    "TTConv2D",
    "TTDense",
    "TTEmbedding",
]
