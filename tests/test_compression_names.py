"""`ttrnn.summary` and `ttrnn info` name the compression they show: the
layer's (all its weights) and the input map's (the kernel alone)."""

import keras
import pytest

from ttrnn import TTGRU
from ttrnn import summary
from ttrnn.experiments import info
from ttrnn.summary import layer_costs

# UCF11's TT-GRU: 57,600 -> 256 units, 3 gates, ranks 4 (Table 1: 3,232).
DENSE_MAP = 57_600 * 768
RECURRENT = 256 * 768 + 2 * 768  # recurrent kernel, bias (reset_after)


def _model():
    return keras.Sequential(
        [
            keras.Input((None, 57_600)),
            TTGRU((8, 20, 20, 18), (4, 4, 4, 4), 4, name="rnn"),
        ]
    )


def test_the_two_compressions_of_a_tt_gru():
    (cost,) = layer_costs(_model())
    assert cost.compression == pytest.approx(
        (DENSE_MAP + RECURRENT) / (3232 + RECURRENT)
    )
    assert round(cost.compression, 1) == 220.7
    assert cost.input_map_compression == pytest.approx(DENSE_MAP / 3232)
    assert round(cost.input_map_compression, 1) == 13687.1


def test_tables_name_what_they_show():
    lines = []
    summary(_model(), print_fn=lines.append)
    assert "Layer compression" in lines[0]
    assert "220.7x" in lines[1] and "13,687" not in lines[1]
    rows = info.layer_rows(_model())
    assert rows[0]["compression"] == pytest.approx(DENSE_MAP / 3232)
    table = info.format_rows(rows).splitlines()
    assert "input-map compression" in table[0]
    assert "dense input map" in table[0]
    assert "13,687.1x" in table[2] and "220.7" not in table[2]


def test_layers_without_a_kernel():
    model = keras.Sequential([keras.Input((4,)), keras.layers.ReLU()])
    (cost,) = layer_costs(model)
    assert cost.input_map_compression is None
