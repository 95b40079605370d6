"""Every experiment's `paper` protocol against the 2017 scripts.

The table below is copied from the reference notes on the 2017 scripts
(PROTOCOLS-2017), not from the catalog: optimiser settings, the L2
factors read off the built models' layers ("tt": the TT cores, "hidden":
the dense baseline's hidden layer, "head"), dropout, preprocessing and
split.
"""

import pytest

from ttrnn.experiments import models
from ttrnn.experiments import registry
from ttrnn.experiments import settings

_NIPS = dict(lr=1e-4, validation_split=0.2, scaling="minmax-each")
_SPLS = dict(
    lr=1e-4,
    validation_split=0.2,
    scaling="minmax-each",
    column_shuffle="seed 11111986",
)
_VIDEO = dict(
    validation_split=0.0,
    pixels="x - 128",
    recurrent_dropout=0.25,
    # dropout .25 is a no-op in the 2017 TT-RNNs; the plain ones apply it.
    dropout={"tt-gru": 0.0, "tt-lstm": 0.0, "gru": 0.25, "lstm": 0.25},
)


def _two_layers(alpha, tt_alpha):
    """NIPS 2003 / spls: alpha on the dense layers, tt_alpha on the TT
    cores (none when 0)."""
    tt = {"tt": tt_alpha, "head": alpha} if tt_alpha else {"head": alpha}
    return {"tt": tt, "dense": {"hidden": alpha, "head": alpha}}


# name: (settings, L2 by model and layer)
PAPER = {
    "ucf11": (
        dict(
            _VIDEO,
            lr=1e-4,
            batch=16,
            epochs=1001,
            split="cv5-2017",
            plain_units=256,
            head_dropout=0.0,
        ),
        {"tt-gru": {"head": 1e-2}, "gru": {"head": 1e-2}},
    ),
    "hollywood2": (
        dict(
            _VIDEO,
            lr=1e-3,
            batch=32,
            epochs=501,
            split="official",
            plain_units=256,
            head_dropout=0.0,
            validation_split=0.15,
            task="multilabel",
        ),
        {"tt-lstm": {"head": 1e-2}, "lstm": {"head": 1e-2}},
    ),
    "youtube-celebrities": (
        dict(
            _VIDEO,
            lr=1e-3,
            batch=16,
            epochs=101,
            split="cv5-2017",
            plain_units=225,
            head_dropout=0.0,
        ),
        {"tt-gru": {"head": 1e-2}, "lstm": {"head": 1e-2}},
    ),
    "hmdb51": (
        dict(
            _VIDEO,
            lr=1e-4,
            batch=16,
            epochs=401,
            split="cv5-2017",
            folds=[1],
            plain_units=225,
            head_dropout=0.25,
        ),
        {"tt-gru": {"head": 1e-2}, "gru": {"head": 1e-2}},
    ),
    "mnist": (
        dict(
            lr=1e-3,
            batch=128,
            epochs=50,
            validation_split=0.2,
            scaling="unit",
        ),
        {
            "tt": {"tt": 5e-4, "head": 1e-3},
            "dense": {"hidden": 5e-4, "head": 1e-3},
        },
    ),
    "cifar10": (
        dict(
            lr=1e-4,
            batch=128,
            epochs=1000,
            validation_split=0.0,
            head_dropout=0.5,
            scaling="none",
        ),
        {"tt": {"tt": 1e-3, "head": 1e-2}},
    ),
    "reuters": (
        dict(lr=3e-4, batch=16, epochs=50, validation_split=0.2),
        {"tt": {"head": 0.1}, "dense": {"head": 0.1}},
    ),
    "arcene": (
        dict(_NIPS, batch=5, epochs=200),
        _two_layers(0.01, 5e-4),
    ),
    "gisette": (
        dict(_NIPS, batch=25, epochs=200),
        _two_layers(0.1, 5e-4),
    ),
    "dexter": (
        dict(_NIPS, batch=35, epochs=400),
        _two_layers(0.1, 5e-4),
    ),
    "dorothea": (
        dict(_NIPS, batch=45, epochs=100, scaling="none"),
        _two_layers(0.01, 5e-4),
    ),
    "madelon": (
        dict(_NIPS, batch=20, epochs=600),
        _two_layers(0.005, 5e-3),
    ),
    "prostate": (
        dict(_SPLS, batch=10, epochs=200),
        _two_layers(0.1, 5e-4),
    ),
    "lymphoma": (
        dict(_SPLS, batch=10, epochs=200),
        _two_layers(0.1, 5e-4),
    ),
    "mice": (
        dict(_SPLS, batch=7, epochs=100),
        _two_layers(0.1, 5e-4),
    ),
    "yeast": (
        # tt_alpha 0: no regulariser on the cores.
        dict(_SPLS, batch=5, epochs=500),
        _two_layers(1e-3, 0),
    ),
    "fibonacci": (
        dict(
            lr=1e-3,
            batch=16,
            # The untimed warm-up epoch + 100 timed ones.
            epochs=101,
            validation_split=0.0,
            recurrent_dropout=0.25,
            dropout={
                "rnn": 0.25,
                "tt-rnn": 0.0,
                "gru": 0.25,
                "tt-gru": 0.0,
                "lstm": 0.25,
                "tt-lstm": 0.0,
            },
            plain_units=64,
        ),
        {"tt-gru": {}, "rnn": {}},
    ),
    "mnist-seq": (
        dict(
            lr=1e-3,
            batch=32,
            epochs=50,
            validation_split=0.2,
            recurrent_dropout=0.5,
            dropout={"tt-lstm": 0.0, "lstm": 0.0},
            scaling="none",
            masking=True,
            plain_units=64,
        ),
        {"tt-lstm": {"head": 1e-2}, "lstm": {"head": 1e-2}},
    ),
}
FIBONACCI_ACCURACY = {
    "rnn": 0.629,
    "tt-rnn": 0.765,
    "gru": 0.893,
    "tt-gru": 0.975,
    "lstm": 0.925,
    "tt-lstm": 0.935,
}


def _build(experiment, model_name):
    if experiment.kind == "feedforward":
        return models.build_feedforward(experiment, model_name, 3)[0]
    # A small frame: the widths and regularisers do not depend on it.
    input_dim = 2304 if experiment.kind == "video" else experiment.input_dim
    return models.build_recurrent(experiment, model_name, input_dim, 3)[0]


def test_every_experiment_is_in_the_table():
    assert set(PAPER) == set(registry.names())


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_settings(name):
    expected, l2 = PAPER[name]
    experiment, protocol = registry.resolve(name, "paper")
    built = {m: _build(experiment, m) for m in l2}
    got = settings.resolved(experiment, protocol, built)
    assert got["optimizer"] == "adam"
    assert got["learning_rate"] == pytest.approx(expected["lr"])
    assert got["batch_size"] == expected["batch"]
    assert got["epochs"] == expected["epochs"]
    assert got["validation_split"] == pytest.approx(
        expected["validation_split"]
    )
    assert got["head_dropout"] == expected.get("head_dropout", 0.0)
    for model_name, layers in l2.items():
        assert settings.layer_l2(built[model_name]) == pytest.approx(layers)
    if "dropout" in expected:
        for model_name, rate in expected["dropout"].items():
            assert experiment.dropout_for(model_name) == rate
        assert got["recurrent_dropout"] == expected["recurrent_dropout"]
    if "plain_units" in expected:
        assert experiment.plain_rnn_units == expected["plain_units"]
        plain = next(m for m in l2 if not m.startswith("tt-"))
        assert built[plain].get_layer("rnn").units == expected["plain_units"]
    for key in ("scaling", "column_shuffle", "pixels", "masking"):
        if key in expected:
            assert got["preprocessing"][key] == expected[key]
    for key in ("split", "folds"):
        if key in expected:
            assert got[key] == expected[key]
    if "task" in expected:
        assert experiment.task == expected["task"]


def test_head_dropout_layers():
    for name, rate in (("hmdb51", 0.25), ("cifar10", 0.5)):
        experiment = registry.get(name)
        model = _build(experiment, experiment.models[0])
        layer = model.get_layer("head_dropout")
        assert layer.rate == rate
        assert model.layers.index(layer) == len(model.layers) - 2


def test_fibonacci_paper_figures_for_all_six_models():
    experiment = registry.get("fibonacci")
    assert set(experiment.models) == set(FIBONACCI_ACCURACY)
    for model_name, accuracy in FIBONACCI_ACCURACY.items():
        assert experiment.paper[model_name]["accuracy"] == accuracy
    model = _build(experiment, "tt-gru")
    assert model.get_layer("head").units == 3  # outputs as asked
    assert experiment.task == "multiclass"


@pytest.mark.parametrize(
    "name, changed",
    [
        ("prostate", {"learning_rate": 1e-3, "batch_size": 8}),
        ("mice", {"learning_rate": 1e-4, "batch_size": 5, "epochs": 200}),
        ("madelon", {"tt_l2": 5e-4, "validation_split": 0.0}),
        ("mnist", {"tt_l2": 0.0, "validation_split": 0.0}),
        ("cifar10", {"learning_rate": 1e-3, "scaling": "unit"}),
        ("arcene", {"scaling": "minmax", "validation_split": 0.0}),
    ],
)
def test_tuned_keeps_our_earlier_settings(name, changed):
    tuned, _ = registry.resolve(name, "tuned")
    for key, value in changed.items():
        assert getattr(tuned, key) == value


def test_fast_video_runs_the_tuned_settings():
    for name in ("ucf11", "hmdb51", "youtube-celebrities", "hollywood2"):
        fast, _ = registry.resolve(name, "fast")
        paper, _ = registry.resolve(name, "paper")
        assert fast.epochs == 100 and paper.epochs > 100
        assert fast.dropout_for("tt-gru") == 0.25
        assert paper.dropout_for("tt-gru") == 0.0
        assert fast.plain_rnn_units == 256
        assert fast.validation_split == 0.0 and fast.head_dropout == 0.0
    assert registry.resolve("hmdb51", "fast")[0].split == "official"
