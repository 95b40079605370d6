"""ttrnn.summary: weights, dense equivalent and multiply-adds per layer."""

import keras
import pytest

from ttrnn import TTGRU
from ttrnn import TTLSTM
from ttrnn import TTDense
from ttrnn import TTSimpleRNN
from ttrnn import compress
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


def _readme_tt_dense():
    return keras.Sequential(
        [
            keras.Input((1024,)),
            TTDense(
                tt_input_shape=(4, 8, 8, 4),
                tt_output_shape=(4, 8, 8, 4),
                tt_ranks=3,
                activation="relu",
            ),
            keras.layers.Dense(10),
        ]
    )


def _readme_auto_tt_dense():
    return keras.Sequential(
        [
            keras.Input((1024,)),
            TTDense(units=1024, tt_ranks=3),
            TTDense(units=1024, tt_ranks="auto", tt_compression=100),
        ]
    )


def _ucf11_tt_gru(steps=None, **kwargs):
    # The README's and docs/tt-rnn.md's model: Masking, then a TT-GRU.
    return keras.Sequential(
        [
            keras.Input((steps, 57600)),
            keras.layers.Masking(0.0),
            TTGRU(
                tt_input_shape=(8, 20, 20, 18),
                tt_output_shape=(4, 4, 4, 4),
                tt_ranks=4,
                **kwargs,
            ),
            keras.layers.Dense(11),
        ]
    )


def _paper_tt_gru():
    return keras.Sequential(
        [
            keras.Input((None, 57600)),
            TTGRU(
                (8, 20, 20, 18),
                (4, 4, 4, 4),
                4,
                recurrent_activation="keras2_hard_sigmoid",
                reset_after=False,
                recurrent_dropout=0.25,
            ),
        ]
    )


def _auto_tt_rnns():
    # docs/tt-rnn.md, "Automatic shapes and ranks".
    return keras.Sequential(
        [
            keras.Input((None, 57600)),
            TTLSTM(
                (8, 20, 20, 18), units=256, tt_ranks=4, return_sequences=True
            ),
            TTGRU(units=256, tt_ranks=4, return_sequences=True),
            TTGRU(units=256, tt_ranks="auto", tt_max_params=4000),
        ]
    )


def _auto_tt_dense_docs():
    # docs/compress.md, "Automatic shapes" and "Budget ranks".
    return keras.Sequential(
        [
            keras.Input((1024,)),
            TTDense(units=1024, tt_ranks=4),
            TTDense((4, 8, 8, 4), units=512, tt_ranks=4),
            TTDense(units=256, tt_ranks=4, tt_d=3),
            TTDense(units=1024, tt_ranks="auto", tt_max_params=5000),
            TTDense(units=1024, tt_ranks="auto", tt_compression=100),
        ]
    )


def _compressed_mlp():
    # docs/compress.md: `small, report = compress(model, ...)`, then
    # `summary(small)`.
    model = keras.Sequential(
        [
            keras.Input((256,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(10),
        ]
    )
    small, _ = compress(model, compression=10)
    return small


def _masked_sequence_tt_dense():
    return keras.Sequential(
        [
            keras.Input((5, 24)),
            keras.layers.Masking(0.0),
            TTDense((4, 6), (2, 4), 2),
            TTSimpleRNN((2, 4), (2, 2), 2),
        ]
    )


DOC_MODELS = {
    "readme_tt_dense": _readme_tt_dense,
    "readme_auto_tt_dense": _readme_auto_tt_dense,
    "readme_tt_gru_masking": lambda: _ucf11_tt_gru(recurrent_dropout=0.25),
    "tt_rnn_paper_faithful": _paper_tt_gru,
    "tt_rnn_auto": _auto_tt_rnns,
    "compress_auto_tt_dense": _auto_tt_dense_docs,
    "compress_mlp": _compressed_mlp,
    "masked_sequence": _masked_sequence_tt_dense,
}


class TestSummaryOfDocumentedModels:
    @pytest.mark.parametrize("name", sorted(DOC_MODELS))
    def test_summary_runs(self, name):
        model = DOC_MODELS[name]()
        lines = _lines(model)
        costs = layer_costs(model)
        assert len(lines) == len(costs) + 2  # header, layers, total
        for cost, line in zip(costs, lines[1:-1]):
            assert line.startswith(f"{cost.name} ({cost.class_name})")
            assert cost.macs is None or isinstance(cost.macs, int)
            if cost.class_name.startswith("TT"):
                assert cost.compression > 1
        assert lines[-1].startswith("Total")

    def test_masking_before_tt_gru(self):
        # The README's TT-GRU: Masking hands [inputs, mask] to the TT-GRU,
        # which used to turn the time axis into a tuple and crash the
        # table ("unsupported format string passed to tuple.__format__").
        lines = _lines(_ucf11_tt_gru())
        row = next(line for line in lines if line.startswith("ttgru"))
        assert row.split()[-1] == "?"  # unknown number of frames
        assert lines[-1].endswith(" + ?")
        ttgru = layer_costs(_ucf11_tt_gru(steps=6))[1]
        unmasked = keras.Sequential(
            [keras.Input((6, 57600)), TTGRU((8, 20, 20, 18), (4,) * 4, 4)]
        )
        assert ttgru.macs == layer_costs(unmasked)[0].macs
        assert isinstance(ttgru.macs, int) and ttgru.macs > 0

    def test_masking_before_tt_dense_counts_positions(self):
        masking, tt_row, rnn = layer_costs(_masked_sequence_tt_dense())
        assert tt_row.macs == 5 * 192  # 5 positions of 192 (see above)
        assert rnn.macs is not None


def test_embeddings_count_the_table_and_the_lookup():
    from ttrnn import TTEmbedding

    model = keras.Sequential(
        [
            keras.Input((7,), dtype="int32"),
            TTEmbedding(1000, 12, (10, 10, 10), (2, 3, 2), (1, 3, 4, 1)),
            keras.layers.Embedding(50, 12, name="plain"),
        ]
    )
    tt_row, plain = layer_costs(model)
    assert tt_row.dense_params == tt_row.dense_kernel_params == 12_000
    assert tt_row.params == 10 * (2 * 3 + 3 * 3 * 4 + 4 * 2)
    # Per id, by hand: (2 x 3) @ (3 x 12) then (6 x 4) @ (4 x 2).
    assert tt_row.step_macs == 2 * 3 * 12 + 6 * 4 * 2
    assert tt_row.macs == 7 * tt_row.step_macs
    assert tt_row.tt_shapes == ((10, 10, 10), (2, 3, 2), (1, 3, 4, 1))
    assert plain.params == plain.dense_params == 50 * 12
    assert plain.macs == plain.dense_macs == 0


def test_convolutions_count_taps_channels_and_pixels():
    from ttrnn import TTConv2D

    model = keras.Sequential(
        [
            keras.Input((10, 10, 16)),
            TTConv2D(16, 3, (4, 4), (4, 4), (1, 3, 2, 1), name="tt"),
            keras.layers.Conv2D(8, 3, padding="same", name="conv"),
        ]
    )
    tt_row, conv = layer_costs(model)
    # 8 x 8 output pixels; dense kernel 3 * 3 * 16 * 16.
    assert tt_row.dense_macs == 64 * 2304
    assert tt_row.dense_params == 2304 + 16
    assert tt_row.params == 4 * 4 * 3 + 3 * 4 * 4 * 2 + 2 * 9 + 16
    # Channels path per pixel, by hand: 9 taps * 16 channels * r_d = 2,
    # then (16 * 2 -> 16) through cores (1, 4, 4, 3), (3, 8, 4, 1):
    # from the last core 4 * 8 * 4 * 3 = 384, then 4 * 4 * 4 * 3 = 192.
    assert tt_row.step_macs == 9 * 16 * 2 + 384 + 192
    assert tt_row.macs == 64 * tt_row.step_macs
    assert conv.macs == conv.dense_macs == 64 * 3 * 3 * 16 * 8
