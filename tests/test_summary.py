"""ttrnn.summary: weights, dense equivalent and multiply-adds per layer."""

import math

import keras
import numpy as np
import pytest

from ttrnn import TTGRU
from ttrnn import TTLSTM
from ttrnn import TTDense
from ttrnn import TTSimpleRNN
from ttrnn import callbacks
from ttrnn import compress
from ttrnn import summary
from ttrnn import tt
from ttrnn.summary import layer_costs
from ttrnn.tt.contraction.cost import plan_flops


def _lines(model, batch_size=None):
    lines = []
    summary(model, print_fn=lines.append, batch_size=batch_size)
    return lines


def _counted_matmul_macs(monkeypatch, layer, x):
    """Multiply-adds of every `keras.ops.matmul` a forward pass runs: a
    count of what really ran, independent of the cost model."""
    count = [0]
    matmul = keras.ops.matmul

    def counting(a, b):
        out = matmul(a, b)
        inner = a.shape[-1]
        count[0] += math.prod(out.shape) * inner
        return out

    monkeypatch.setattr(keras.ops, "matmul", counting)
    layer(x)
    return count[0]


class TestSummary:
    def test_mnist_tt_layer_figures(self):
        # REFERENCE: [4,8,8,4] -> [4,8,8,4] rank 3 has 1,248 core weights
        # and costs 172,032 multiply-adds per sample core by core, at any
        # batch size.
        model = keras.Sequential(
            [
                keras.Input((1024,)),
                TTDense(
                    (4, 8, 8, 4), (4, 8, 8, 4), 3, tt_strategy="ltr", name="tt"
                ),
                keras.layers.Dropout(0.1, name="drop"),
                keras.layers.Dense(10, name="head"),
            ]
        )
        for batch_size in (1, 64):
            tt_row, drop, head = layer_costs(model, batch_size)
            assert tt_row.macs == tt_row.step_macs == 172_032
        assert (tt_row.params, tt_row.dense_params) == (2272, 1024 * 1025)
        assert tt_row.dense_macs == tt_row.dense_step_macs == 1024**2
        assert tt_row.compression == pytest.approx(1024 * 1025 / 2272)
        assert (drop.params, drop.macs) == (0, None)
        assert (head.params, head.macs) == (10_250, 10_240)
        lines = _lines(model, batch_size=1)
        assert lines[0].split()[:3] == ["Layer", "(type)", "Output"]
        assert lines[0].endswith("Mult-adds (batch 1)")
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

    def test_the_batch_assumed(self):
        layer = TTDense((4, 6), (2, 4), 2)
        free = keras.Sequential([keras.Input((24,)), layer])
        fixed = keras.Sequential([keras.Input((24,), batch_size=8), layer])
        assert _lines(free)[0].endswith("Mult-adds (batch 32)")
        assert _lines(fixed)[0].endswith("Mult-adds (batch 8)")
        assert _lines(fixed, batch_size=3)[0].endswith("(batch 3)")
        for bad in (0, 2.5, True):
            with pytest.raises(ValueError, match=r"Argument `batch_size`"):
                layer_costs(free, bad)

    def test_building_w_is_shared_by_the_batch(self):
        # The "dense" plan builds W (4 * 2, 2) @ (2, 6 * 4) once a batch,
        # 384 multiply-adds, then x @ W costs 24 * 8 = 192 a row.
        model = keras.Sequential(
            [
                keras.Input((24,)),
                TTDense((4, 6), (2, 4), 2, tt_strategy="dense"),
            ]
        )
        assert layer_costs(model, 4)[0].macs == 192 + 384 // 4
        assert layer_costs(model, 128)[0].macs == 192 + 3
        assert layer_costs(model, 4)[0].dense_macs == 192

    @pytest.mark.parametrize(
        "strategy",
        ["ltr", "rtl", "dense", "ltr[1,2]/batch_first", "rtl[2,1]/batch_last"],
    )
    def test_counts_what_a_forward_pass_runs(self, monkeypatch, strategy):
        layer = TTDense(
            (2, 3, 4), (3, 2, 2), (1, 3, 2, 1), tt_strategy=strategy
        )
        model = keras.Sequential([keras.Input((5, 24)), layer])
        x = np.ones((6, 5, 24), "float32")
        counted = _counted_matmul_macs(monkeypatch, layer, x)
        monkeypatch.undo()
        (row,) = layer_costs(model, 6)
        assert row.macs == round(counted / 6)
        assert row.step_macs == round(counted / 30)

    def test_auto_takes_the_planned_plan(self):
        # The plan `tt.matmul` picks for the rows (here 32 * 7), counted
        # by its multiply-adds.
        layer = TTDense((4, 8, 8, 4), (4, 8, 8, 4), 3)
        model = keras.Sequential([keras.Input((7, 1024)), layer])
        modes = ((4, 8, 8, 4), (4, 8, 8, 4), (1, 3, 3, 3, 1))
        plan = tt.choose_plan(*modes, 32 * 7)
        total = plan_flops(plan, *modes, 32 * 7)
        (row,) = layer_costs(model)
        assert row.macs == round(total / 32)
        assert row.dense_macs == 7 * 1024**2

    def test_sequence_axis_multiplies_the_cost(self):
        model = keras.Sequential(
            [
                keras.Input((7, 24)),
                TTDense((4, 6), (2, 4), 2, tt_strategy="ltr"),
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

    def test_recurrent_step_by_hand(self):
        # The map as TTDense((4, 6), (2, 4), 2) from core 0: 192 a step,
        # then the (8, 8) recurrent matmul.
        model = keras.Sequential(
            [
                keras.Input((7, 24)),
                TTSimpleRNN((4, 6), (2, 4), 2, tt_strategy="ltr"),
            ]
        )
        (row,) = layer_costs(model, 5)
        assert row.step_macs == 192 + 64
        assert row.macs == 7 * (192 + 64)
        assert row.dense_macs == 7 * (24 * 8 + 64)

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
        unmasked = keras.Sequential(
            [keras.Input((5, 24)), TTDense((4, 6), (2, 4), 2)]
        )
        assert tt_row.macs == layer_costs(unmasked)[0].macs  # 5 positions
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
    # The 32 * 7 ids of a batch, by hand for each lookup plan: from the
    # last core (3 x 2) @ (2 x 6) + (1 x 6) @ (6 x 12) = 108 an id; from
    # the first, (2 x 3) @ (3 x 12) + (6 x 4) @ (4 x 2) = 120 an id; with
    # the first 2 cores merged into a 100-row table once a batch,
    # 100 * (2 x 3) @ (3 x 12) = 7,200, then 48 an id; all 3 merged:
    # 7,200 + 1,000 * (6 x 4) @ (4 x 2) = 55,200, then 0.
    ids = 32 * 7
    by_hand = {
        tt.LookupPlan("rtl"): 108 * ids,
        tt.LookupPlan("ltr", 1): 120 * ids,
        tt.LookupPlan("ltr", 2): 7200 + 48 * ids,
        tt.LookupPlan("ltr", 3): 55_200,
    }
    modes = ((10, 10, 10), (2, 3, 2), (1, 3, 4, 1))
    total = by_hand[tt.lookup_plan(*modes, ids)]
    assert tt_row.macs == round(total / 32)
    assert tt_row.step_macs == round(total / ids)
    assert tt_row.tt_shapes == modes
    assert plain.params == plain.dense_params == 50 * 12
    assert plain.macs == plain.dense_macs == 0


def _conv_model(strategy):
    from ttrnn import TTConv2D

    return keras.Sequential(
        [
            keras.Input((10, 10, 16)),
            TTConv2D(
                16,
                3,
                (4, 4),
                (4, 4),
                (1, 3, 2, 1),
                tt_strategy=strategy,
                name="tt",
            ),
            keras.layers.Conv2D(8, 3, padding="same", name="conv"),
        ]
    )


def test_convolutions_count_taps_channels_and_pixels():
    tt_row, conv = layer_costs(_conv_model("rtl"), 4)
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


def test_convolution_dense_path_builds_the_kernel_once_a_batch():
    # K from cores (1, 4, 4, 3), (3, 4, 4, 2), (2, 9, 1, 1): (16, 3) @
    # (3, 32) = 1,536, then (256, 2) @ (2, 9) = 4,608 multiply-adds once
    # a batch; then 2,304 a pixel.
    for batch in (1, 4):
        tt_row, _ = layer_costs(_conv_model("dense"), batch)
        assert tt_row.macs == 64 * 2304 + (1536 + 4608) // batch


class TestInfoTables:
    def test_a_tt_layer_dearer_than_dense_says_why(self):
        from ttrnn.experiments import info

        # Reuters' TT layer: rank 10 on 10x10x10 -> 8x8x8. From core 0 a
        # vector costs (100 x 10) @ (10 x 80) + (80 x 100) @ (100 x 80) +
        # (64 x 100) @ (100 x 8) = 80,000 + 640,000 + 51,200 = 771,200
        # multiply-adds, 1.5x the dense 512,000.
        dear = keras.Sequential(
            [
                keras.Input((1000,)),
                TTDense((10, 10, 10), (8, 8, 8), 10, tt_strategy="ltr"),
            ]
        )
        text = info.model_table(dear, 16)
        assert "at batch 16" in text
        name = dear.layers[0].name
        assert f"{name}: TT costs more multiply-adds than dense" in text
        assert "(771,200 against 512,000 a step" in text
        cheap = keras.Sequential(
            [keras.Input((1024,)), TTDense((4, 8, 8, 4), (4, 8, 8, 4), 3)]
        )
        assert "costs more" not in info.model_table(cheap, 16)

    def test_prostate_tt_below_dense_at_its_batch(self):
        from ttrnn.experiments import models
        from ttrnn.experiments import registry

        experiment, _ = registry.resolve("prostate", "paper")
        macs = {}
        for name in ("tt", "dense"):
            model, _ = models.build_feedforward(experiment, name, 2, None)
            hidden = layer_costs(model, experiment.batch_size)[0]
            macs[name] = hidden.step_macs
        assert experiment.batch_size == 10
        assert macs["dense"] == 6300 * 625
        assert macs["tt"] < macs["dense"]


def test_summary_names_adapted_ranks():
    # Rank slices zeroed on both sides of a cut (as RankAdaptation leaves
    # them) are dead: summary says the adapted ranks; a plain model no.
    layer = TTDense((4, 4), (4, 4), 3, name="tt")
    model = keras.Sequential([keras.Input((16,)), layer])
    lines = []
    summary(model, print_fn=lines.append)
    assert not any("ranks adapted" in line for line in lines)
    first, second = (keras.ops.convert_to_numpy(c) for c in layer.cores)
    first[..., 2] = 0.0
    second[2] = 0.0
    layer.cores[0].assign(first)
    layer.cores[1].assign(second)
    lines = []
    summary(model, print_fn=lines.append)
    assert lines[-1].startswith(
        "tt: ranks adapted to [1, 2, 1], 64 weights in the TT cores (the "
        "variables hold ranks [1, 3, 1], 96 weights;"
    )
    # The model at the adapted ranks holds what the line counts.
    exported = callbacks.export_adapted(model)
    costs = {c.name: c for c in layer_costs(exported)}
    assert costs["tt"].kernel_params == 2 * (4 * 4 * 2)
