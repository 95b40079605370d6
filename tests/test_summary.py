"""ttrnn.summary: weights, dense equivalent and multiply-adds per layer."""

import keras
import pytest

from ttrnn import TTGRU
from ttrnn import TTDense
from ttrnn import summary
from ttrnn.summary import layer_costs


def _lines(model):
    lines = []
    summary(model, print_fn=lines.append)
    return lines


class TestSummary:
    def test_mnist_tt_layer_figures(self):
        # REFERENCE: [4,8,8,4] -> [4,8,8,4] rank 3 has 1,248 core weights
        # and costs 172,032 multiply-adds per sample core by core.
        model = keras.Sequential(
            [
                keras.Input((1024,)),
                TTDense((4, 8, 8, 4), (4, 8, 8, 4), 3, name="tt"),
                keras.layers.Dropout(0.1, name="drop"),
                keras.layers.Dense(10, name="head"),
            ]
        )
        tt_row, drop, head = layer_costs(model)
        assert (tt_row.params, tt_row.dense_params) == (2272, 1024 * 1025)
        assert tt_row.macs == 172_032 and tt_row.dense_macs == 1024**2
        assert tt_row.compression == pytest.approx(1024 * 1025 / 2272)
        assert (drop.params, drop.macs) == (0, None)
        assert (head.params, head.macs) == (10_250, 10_240)
        lines = _lines(model)
        assert lines[0].split()[:3] == ["Layer", "(type)", "Output"]
        assert lines[1].split() == [
            "tt",
            "(TTDense)",
            "(None,",
            "1024)",
            "2,272",
            "1,049,600",
            "462.0x",
            "172,032",
        ]
        assert lines[2].split()[-2:] == ["-", "-"]
        assert lines[-1].split() == [
            "Total",
            "12,522",
            "1,059,850",
            "84.6x",
            "182,272",
        ]

    def test_sequence_axis_multiplies_the_cost(self):
        model = keras.Sequential(
            [
                keras.Input((7, 24)),
                TTDense((4, 6), (2, 4), 2),
                keras.layers.Dense(3),
            ]
        )
        tt_row, head = layer_costs(model)
        # Per vector, by hand: core by core from core 0, (6 x 4) @ (4 x 4)
        # then (2 x 12) @ (12 x 4): 96 + 96; from the last core 192 + 64.
        assert tt_row.macs == 7 * 192
        assert tt_row.dense_macs == 7 * 24 * 8
        assert head.macs == 7 * 8 * 3

    def test_recurrent_layers(self):
        # UCF11 TT-GRU (Yang et al. 2017): 3,232 core weights.
        model = keras.Sequential(
            [
                keras.Input((6, 57600)),
                TTGRU((8, 20, 20, 18), (4, 4, 4, 4), 4, name="ttgru"),
                keras.layers.Reshape((1, 256)),
                keras.layers.GRU(8, name="gru"),
            ]
        )
        ttgru, _, gru = layer_costs(model)
        rec = 256 * 768 + 2 * 768
        assert ttgru.params == 3232 + rec
        assert ttgru.dense_params == 57600 * 768 + rec
        assert ttgru.dense_macs == 6 * (57600 * 768 + 256 * 768)
        assert ttgru.macs < ttgru.dense_macs / 10
        assert gru.macs == 1 * (256 * 24 + 8 * 24)

    def test_unknown_time_axis_and_unknown_layers(self):
        model = keras.Sequential(
            [
                keras.Input((None, 12)),
                keras.layers.GRU(4, return_sequences=True, name="gru"),
                keras.layers.Conv1D(2, 3, name="conv"),
            ]
        )
        gru, conv = layer_costs(model)
        assert gru.macs is None and conv.macs is None
        assert conv.params == 3 * 4 * 2 + 2
        lines = _lines(model)
        assert lines[1].split()[-1] == "?"
        assert lines[-1].endswith("0 + ?")

    def test_unbuilt_model(self):
        with pytest.raises(ValueError, match=r"must be built"):
            summary(keras.Sequential([keras.layers.Dense(2)]))
