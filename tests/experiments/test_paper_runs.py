"""Runs of the `paper` protocol end to end, on generated data."""

import numpy as np
import pytest

from ttrnn.experiments import run
from ttrnn.experiments import splits


def _video_run(tmp_path, name, data_dir, **kwargs):
    return run.run_experiment(
        name,
        data_dir=str(data_dir),
        out=str(tmp_path / "run"),
        protocol="paper",
        epochs=1,
        frame_shape=(16, 24),
        batch_size=4,
        cache_dir=str(tmp_path / "cache"),
        verbose=0,
        plot=False,
        compare_paper=False,
        **kwargs,
    )


def test_hollywood2_holds_out_the_last_training_clips(tmp_path, av):
    """validation_split 0.15 (2017): the last 15 % of the training clips
    validate and do not train."""
    from ttrnn import data

    data_dir = tmp_path / "hollywood2"
    data.write_hollywood2_like(
        data_dir,
        num_train=20,
        num_test=4,
        num_frames=3,
        frame_shape=(16, 24),
        seed=1,
    )
    result = _video_run(tmp_path, "hollywood2", data_dir)
    config = result["config"]
    # int(20 * 0.85) = 17 train, 3 validate.
    assert (config["train_clips"], config["validation_clips"]) == (17, 3)
    assert config["test_clips"] == 4
    assert "val_loss" in result["history"]["tt-gru"]


def test_hmdb51_fold_1_of_the_2017_folds(tmp_path, av):
    """Fold 1 of the 2017 random folds, Dropout 0.25 before the head."""
    from ttrnn import data

    data_dir = tmp_path / "hmdb51"
    data.write_hmdb51_like(
        data_dir,
        num_classes=2,
        clips_per_class=5,
        num_frames=6,
        frame_shape=(16, 24),
        seed=2,
    )
    result = _video_run(tmp_path, "hmdb51", data_dir)
    config = result["config"]
    assert config["folds"] == [1]
    assert list(config["split_clips"]) == ["fold-1"]
    _, test = splits.folds_2017(10)[1]
    assert config["split_clips"]["fold-1"] == {
        "train": 10 - len(test),
        "test": len(test),
    }
    assert config["dropout"] == 0.0  # the TT-GRU: no input dropout
    layers = [row["layer"] for row in result["weights"]["layers"]]
    assert layers == ["rnn", "head"]


def test_prostate_paper_run(tmp_path):
    """The 2017 settings on generated spls files: 20 % of the training
    rows validate."""
    from tests.formats import write_spls_like

    write_spls_like(
        tmp_path / "spls", "prostate", {"train": 20, "valid": 8}, 6033
    )
    result = run.run_experiment(
        "prostate",
        data_dir=str(tmp_path),
        out=str(tmp_path / "run"),
        epochs=2,
        verbose=0,
        plot=False,
    )
    config = result["config"]
    assert (config["train_size"], config["validation_size"]) == (16, 4)
    assert (config["batch_size"], config["learning_rate"]) == (10, 1e-4)
    assert config["l2"] == pytest.approx(0.1)
    assert config["tt_l2"] == pytest.approx(5e-4)
    assert np.isfinite(result["metrics"]["accuracy"])
