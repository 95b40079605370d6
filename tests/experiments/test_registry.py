"""The experiment registry against the 2017 figures (REFERENCE §4)."""

import dataclasses
import math
import pathlib

import keras
import pytest

from ttrnn import tt
from ttrnn.experiments import info
from ttrnn.experiments import models
from ttrnn.experiments import registry


class TestRegistry:
    @pytest.mark.parametrize(
        "name",
        ["mnist", "cifar10", "arcene", "gisette", "dexter", "dorothea"]
        + ["reuters"],
    )
    def test_first_layer_counts_match_2017(self, name):
        e = registry.get(name)
        paper = e.paper
        tt_count = tt.num_params(
            e.tt_input_shape, e.tt_output_shape, e.tt_ranks
        )
        assert tt_count == paper["tt"]["first_layer"]
        assert e.input_dim * e.units == paper["dense"]["first_layer"]

    @pytest.mark.parametrize(
        "model_name, expected",
        [
            ("tt-rnn", 2976),
            ("tt-gru", 3232),
            ("tt-lstm", 3360),
            ("vtt-gru", 8928),
            ("vtt-lstm", 11904),
        ],
    )
    def test_ucf11_input_to_hidden_matches_table_1(self, model_name, expected):
        e = registry.get("ucf11")
        kind = model_name.split("-")[1]
        layout = "separate" if model_name.startswith("vtt") else "shared"
        layer = models._tt_rnn(
            kind, e.tt_input_shape, e.tt_output_shape, e.tt_ranks, layout, {}
        )
        model = keras.Sequential([keras.Input((None, 57600)), layer])
        (stats,) = info.layer_rows(model)
        assert stats["input_to_hidden"] == expected
        gates = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
        assert stats["dense_equivalent"] == 57600 * 256 * gates

    def test_build_recurrent(self):
        e = registry.get("ucf11")
        model, loss = models.build_recurrent(
            e, "tt-gru", 2304, 11, masking=True
        )
        assert loss == "sparse_categorical_crossentropy"
        rows = info.layer_rows(model)
        assert [r["layer"] for r in rows] == ["rnn", "head"]
        assert rows[0]["tt_input_shape"] == [8, 8, 6, 6]
        assert model.layers[1].name == "masking"

    def test_reuters_models(self):
        """TT or Dense(512) with ReLU, batch normalisation, a softmax head
        with L2 0.1; no L2 on the hidden layer of either."""
        e = registry.get("reuters")
        for name in ("tt", "dense"):
            model, loss = models.build_feedforward(e, name, 46)
            assert loss == "sparse_categorical_crossentropy"
            hidden, norm, head = (
                model.get_layer(n) for n in ("hidden", "batch_norm", "head")
            )
            assert isinstance(norm, keras.layers.BatchNormalization)
            assert hidden.kernel_regularizer is None
            assert hidden.activation.__name__ == "relu"
            assert head.kernel_regularizer.get_config()["l2"] == (
                pytest.approx(0.1)
            )
            assert head.units == 46
            assert model.layers.index(norm) == model.layers.index(hidden) + 1

    def test_spls_inputs_cover_features(self):
        features = {
            "prostate": 6033,
            "lymphoma": 4026,
            "mice": 145,
            "yeast": 106,
        }
        for name, count in features.items():
            e = registry.get(name)
            assert count <= e.input_dim < 1.2 * count

    def test_groups_and_expand(self):
        assert registry.expand("spls") == registry.GROUPS["spls"]
        assert registry.expand("arcene") == ("arcene",)
        for members in registry.GROUPS.values():
            for name in members:
                assert registry.get(name).kind == "feedforward"

    @pytest.mark.parametrize(
        "name, changed",
        [
            (
                "madelon",
                {"tt_l2": 5e-4, "scaling": "minmax", "validation_split": 0.0},
            ),
            (
                "mice",
                {
                    # Adam 1e-4 in both (2017 and ours).
                    "l2": 1e-3,
                    "tt_l2": 1e-4,
                    "batch_size": 5,
                    "epochs": 200,
                    "scaling": "minmax",
                    "column_shuffle": False,
                    "validation_split": 0.0,
                },
            ),
        ],
    )
    def test_tuned_protocol_changes_only_its_settings(self, name, changed):
        base = registry.get(name)
        tuned, protocol = registry.resolve(name, "tuned")
        assert protocol == "tuned" and tuned.name == name
        assert base.protocols == ("paper", "tuned")
        differ = {
            f.name
            for f in dataclasses.fields(base)
            if getattr(base, f.name) != getattr(tuned, f.name)
        }
        assert differ == {"description", "notes", *changed}
        for key, value in changed.items():
            assert getattr(tuned, key) == value != getattr(base, key)
        # The old experiment names are aliases of the tuned protocol.
        assert registry.ALIASES[f"{name}-tuned"] == (name, "tuned")
        assert registry.resolve(f"{name}-tuned") == (tuned, "tuned")
        assert registry.get(f"{name}-tuned") == tuned
        assert registry.run_label(name, "tuned") == f"{name}-tuned"
        assert registry.run_label(f"{name}-tuned") == f"{name}-tuned"
        assert registry.run_label(name) == name
        assert f"{name}-tuned" not in registry.names()
        assert f"{name}-tuned" not in sum(registry.GROUPS.values(), ())

    def test_default_protocols(self):
        assert registry.resolve("ucf11")[1] == "fast"
        assert registry.resolve("ucf11", "paper")[1] == "paper"
        assert registry.resolve("madelon")[1] == "paper"
        assert registry.resolve("fibonacci")[1] == "paper"
        # Every experiment whose 2017 settings we changed keeps ours.
        assert set(registry.tuned_names()) == {
            "mnist",
            "cifar10",
            *registry.GROUPS["nips2003"],
            *registry.GROUPS["spls"],
        }
        for name in registry.names():
            protocols = registry.get(name).protocols
            assert set(protocols) <= set(registry.PROTOCOLS)

    @pytest.mark.parametrize(
        "name, protocol, match",
        [
            (
                "ucf11",
                "tuned",
                r"ucf11 runs its tuned settings as 'fast'; the "
                r"experiments with a 'tuned' protocol are \['mnist', ",
            ),
            ("reuters", "tuned", "reuters has no tuned settings"),
            (
                "madelon",
                "fast",
                r"must be one of \('paper', 'tuned'\) "
                "for madelon .*video experiments",
            ),
            ("reuters", "fast", r"must be one of \('paper',\) for reuters"),
            (
                "ucf11",
                "slow",
                r"must be one of \('fast', 'paper', "
                r"'tuned'\)\. Received: protocol='slow' for ucf11",
            ),
            (
                "madelon-tuned",
                "paper",
                "madelon-tuned is madelon in the 'tuned' protocol",
            ),
        ],
    )
    def test_invalid_protocols(self, name, protocol, match):
        with pytest.raises(registry.ExperimentError, match=match):
            registry.resolve(name, protocol)
        base = registry.get(name.removesuffix("-tuned"))
        if protocol not in base.protocols and protocol in registry.PROTOCOLS:
            with pytest.raises(registry.ExperimentError, match="`protocol`"):
                base.with_protocol(protocol)

    def test_tt_input_modes(self):
        e = registry.get("ucf11")
        assert models.tt_input_modes(e, 57600) == e.tt_input_shape
        for n in (2304, 16 * 24 * 3, 70200):
            modes = models.tt_input_modes(e, n)
            assert len(modes) == 4 and math.prod(modes) == n
        assert models.tt_input_modes(e, 2304) == (8, 8, 6, 6)
        # A frame size that does not factor into 4 useful modes.
        with pytest.raises(ValueError, match="input_dim"):
            models.tt_input_modes(e, 3 * 97)

    def test_invalid_arguments(self):
        with pytest.raises(registry.ExperimentError, match="Unknown exp"):
            registry.get("ucf101")
        e = registry.get("ucf11")
        with pytest.raises(registry.ExperimentError, match="`model` must"):
            models.build_recurrent(e, "tt", 57600, 11)
        with pytest.raises(registry.ExperimentError, match="product of"):
            models.build_recurrent(
                e, "tt-gru", 2304, 11, tt_input_shape=(8, 8, 6, 7)
            )


@pytest.mark.parametrize(
    "rate", ["fast", 0.0, -1e-3, float("inf"), True, [1e-3, 0], "1e-3"]
)
def test_run_experiment_rejects_a_bad_learning_rate(tmp_path, rate):
    from ttrnn.experiments import run

    with pytest.raises(registry.ExperimentError, match="`learning_rate`"):
        run.run_experiment(
            "mice", learning_rate=rate, out=str(tmp_path), verbose=0
        )


@pytest.mark.parametrize(
    "name, protocol", [("ucf11", "tuned"), ("mnist", "fast"), ("yeast", "x")]
)
def test_run_experiment_rejects_a_protocol_before_reading(
    tmp_path, name, protocol
):
    """Refused before any data is looked for (there is none here)."""
    from ttrnn.experiments import run

    assert run.PROTOCOLS == registry.PROTOCOLS
    with pytest.raises(registry.ExperimentError, match="`protocol`"):
        run.run_experiment(
            name, protocol=protocol, out=str(tmp_path), verbose=0
        )


def test_run_many_checks_every_protocol_before_the_first_run(tmp_path):
    """madelon would run (and fail for want of data) if ucf11's protocol
    were checked only when its turn came."""
    from ttrnn.experiments import run

    with pytest.raises(registry.ExperimentError, match="ucf11 runs its"):
        run.run_many(
            ["madelon", "ucf11"], None, protocol="tuned", out=str(tmp_path)
        )


def test_run_experiment_tuned_protocol_and_alias(tmp_path, monkeypatch):
    """The Python API: protocol="tuned" and the alias run the same
    settings into the same default folder, runs/mice-tuned-tt."""
    from tests.formats import write_spls_like
    from ttrnn.experiments import run

    write_spls_like(
        tmp_path / "spls", "mice", {"train": 20, "valid": 6}, 145, 83
    )
    monkeypatch.chdir(tmp_path)
    common = dict(data_dir=str(tmp_path), epochs=1, verbose=0, plot=False)
    first = run.run_experiment("mice", protocol="tuned", **common)
    second = run.run_experiment("mice-tuned", overwrite=True, **common)
    for result in (first, second):
        assert result["out"] == str(pathlib.Path("runs", "mice-tuned-tt"))
        assert result["experiment"] == "mice"
        assert result["config"]["protocol"] == "tuned"
        assert result["config"]["learning_rate"] == pytest.approx(1e-4)
    assert second["config"] == first["config"]
    assert second["metrics"]["mse"] == pytest.approx(
        first["metrics"]["mse"], rel=1e-5
    )
    plain = run.run_experiment("mice", **common)
    assert plain["out"] == str(pathlib.Path("runs", "mice-tt"))
    assert plain["config"]["protocol"] == "paper"
    assert (plain["config"]["batch_size"], first["config"]["batch_size"]) == (
        7,
        5,
    )


def test_paper_frame_budget_by_backend():
    """4,096 padded frames a batch on JAX (whose compiled step's
    temporaries grow with the batch), 8,192 on TensorFlow and torch."""
    from ttrnn.experiments import run_config

    expected = 4096 if keras.backend.backend() == "jax" else 8192
    assert run_config.default_max_batch_frames() == expected
