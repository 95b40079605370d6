"""`compress` names every layer it leaves as it was, with the reason."""

import keras
import pytest

from ttrnn import compress


def _small_convnet():
    """An 8 -> 16-channel Conv2D, a BatchNormalization and a small Dense:
    nothing reaches the default `min_params`."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 8)),
            keras.layers.Conv2D(16, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(10, name="head"),
        ]
    )


def _notes(report):
    return {row.name: row.note for row in report.skipped}


def test_nothing_converted_lists_every_layer_with_weights():
    model = _small_convnet()
    with pytest.warns(UserWarning, match=r"every layer was left as it was"):
        new, report = compress(model)
    assert report.layers == []
    assert [row.name for row in report.skipped] == ["conv", "bn", "head"]
    notes = _notes(report)
    assert notes["conv"] == (
        "too small to shrink: 1,152 kernel weights, fewer than "
        "min_params=4096 (lower `min_params` or name it in `layers` to "
        "convert it)"
    )
    assert notes["head"].startswith("too small to shrink: 160 kernel")
    assert notes["bn"].startswith(
        "unsupported layer type BatchNormalization (`compress` converts "
        "Conv2D, Dense, Embedding, GRU, LSTM, SimpleRNN and TT layers)"
    )
    # Every weight of the model is in a row: nothing goes unexplained.
    assert sum(r.params_before for r in report.skipped) == (
        model.count_params()
    )
    assert all(r.params_after == r.params_before for r in report.skipped)
    assert report["bn"].before == report["bn"].after == "BatchNormalization"
    text = str(report)
    assert "left as they are:\n  conv (Conv2D, 1,168 weights): too small" in (
        text
    )
    assert "  bn (BatchNormalization, 64 weights): unsupported" in text
    assert "1,402 -> 1,402  1.0x" in text
    assert [type(layer).__name__ for layer in new.layers] == [
        "Conv2D",
        "BatchNormalization",
        "GlobalAveragePooling2D",
        "Dense",
    ]


def test_converted_layers_stay_out_of_the_skipped_list():
    model = _small_convnet()
    _, report = compress(model, layers=["head"], max_rank=2)
    assert [row.name for row in report.layers] == ["head"]
    assert _notes(report) == {
        "conv": "not named in `layers`",
        "bn": _notes(report)["bn"],
    }
    assert _notes(report)["bn"].startswith("unsupported layer type")
    text = str(report)
    assert text.index("head   Dense -> TTDense") < text.index("left as")
    assert "conv (Conv2D, 1,168 weights): not named in `layers`" in text


def test_budget_too_small_is_named():
    model = _small_convnet()
    with pytest.warns(UserWarning, match=r"'head' left dense: too small"):
        _, report = compress(model, min_params=0, max_params=10)
    # Tried and skipped: in `layers` (as before) and in `skipped`.
    assert [row.name for row in report.layers] == ["conv", "head"]
    assert report["head"] is report.skipped[-1]
    assert report["head"].note.startswith(
        "too small to shrink at this budget: The smallest TT-matrix "
        "(rank 1) for tt_input_shape=(4, 4), tt_output_shape=(5, 2) has 28 "
        "weights, above the budget."
    )
    assert "\n  head (Dense, 170 weights): too small to shrink at this " in (
        str(report)
    )


def test_dims_without_a_factorisation_are_named():
    model = keras.Sequential(
        [keras.Input((13,)), keras.layers.Dense(10, name="odd")]
    )
    with pytest.warns(UserWarning, match=r"'odd' left dense: no TT factor"):
        _, report = compress(model, min_params=0)
    assert report["odd"].note.startswith(
        "no TT factorisation of 13 inputs into 2 modes: `input_dim`=13 "
    )
    assert "Zero-pad to 14" in report["odd"].note
    with pytest.raises(ValueError, match=r"^`input_dim`=13 does not factor"):
        compress(model, layers=["odd"])
