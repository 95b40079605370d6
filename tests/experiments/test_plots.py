"""The PNG plots of the experiments: they run, and say what they show."""

import os

import keras
import pytest

from ttrnn import TTGRU
from ttrnn import TTDense
from ttrnn.experiments import plots

pytest.importorskip("matplotlib")

FRAME = (6, 8)  # (height, width) of the flattened RGB inputs: 144 features

HISTORIES = {
    "TT-GRU": {
        "loss": [1.5, 1.2, 1.0],
        "val_loss": [1.6, 1.3, 1.2],
        "accuracy": [0.3, 0.5, 0.6],
        "val_accuracy": [0.25, 0.45, 0.5],
    },
    "GRU": {"loss": [1.4, 1.1, 0.9], "val_loss": [1.5, 1.4, 1.4]},
}


def _video_models():
    features = FRAME[0] * FRAME[1] * 3
    tt_gru = keras.Sequential(
        [keras.Input((None, features)), TTGRU((4, 6, 6), (2, 2, 2), 2)]
    )
    gru = keras.Sequential([keras.Input((None, features)), keras.layers.GRU(8)])
    return {"TT-GRU": tt_gru, "GRU": gru}


def _figure_texts(monkeypatch):
    """Records the texts of every figure `plots` saves."""
    import matplotlib.figure

    texts = []
    save = matplotlib.figure.Figure.savefig

    def savefig(fig, *args, **kwargs):
        fig.canvas.draw()
        texts.append(
            {
                "titles": [ax.get_title() for ax in fig.axes],
                "xlabels": [ax.get_xlabel() for ax in fig.axes],
                "ylabels": [ax.get_ylabel() for ax in fig.axes],
                "xticks": [
                    [t.get_text() for t in ax.get_xticklabels()]
                    for ax in fig.axes
                ],
                "images": [im for ax in fig.axes for im in ax.get_images()],
                "text": [t.get_text() for t in fig.texts],
            }
        )
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return texts


def _is_png(path):
    with open(path, "rb") as file:
        return file.read(8) == b"\x89PNG\r\n\x1a\n"


class TestPlots:
    def test_save_all_writes_both_pngs(self, tmp_path):
        paths = plots.save_all(
            os.path.join(tmp_path, "run", ""),
            HISTORIES,
            _video_models(),
            "accuracy",
            FRAME,
            "TT-GRU vs GRU",
        )
        assert [p.rsplit("/", 1)[-1] for p in paths] == [
            "curves.png",
            "weights.png",
        ]
        assert all(_is_png(p) for p in paths)

    def test_epoch_ticks_are_integers(self, tmp_path, monkeypatch):
        figures = _figure_texts(monkeypatch)
        plots.learning_curves(HISTORIES, tmp_path / "c.png", "accuracy")
        (figure,) = figures
        assert figure["xlabels"] == ["epoch", "epoch"]
        for ticks in figure["xticks"]:
            labels = [t.replace("\u2212", "-") for t in ticks if t]
            assert labels and all(t.lstrip("-").isdigit() for t in labels)

    def test_video_weights_explain_themselves(self, tmp_path, monkeypatch):
        figures = _figure_texts(monkeypatch)
        plots.weights(_video_models(), tmp_path / "w.png", FRAME)
        (figure,) = figures
        titles = " | ".join(figure["titles"])
        # The TT histogram names what it counts: the 144 x 24 = 3,456
        # entries of the rebuilt W, from 48 + 48 + 24 = 120 core weights.
        assert "TT-GRU: entries of W rebuilt from the cores" in titles
        assert "3,456 entries from 120 TT weights" in titles
        assert "GRU: entries of W (3,456 weights)" in titles
        assert "how strongly each pixel feeds the hidden units" in titles
        assert {"pixel x", "value"} <= set(figure["xlabels"])
        assert {"pixel y", "count"} <= set(figure["ylabels"])
        # One colour scale for both heat maps.
        limits = {im.get_clim() for im in figure["images"]}
        assert len(figure["images"]) == 2 and len(limits) == 1
        (caption,) = figure["text"]
        assert "norm of its rows of W" in caption
        assert "One colour scale for all models" in caption

    def test_tt_cores_and_dense_kernel(self, tmp_path, monkeypatch):
        figures = _figure_texts(monkeypatch)
        tt = keras.Sequential(
            [keras.Input((64,)), TTDense((4, 4, 4), (2, 2, 2), 3)]
        )
        dense = keras.Sequential([keras.Input((64,)), keras.layers.Dense(8)])
        path = plots.weights({"TT": tt, "dense": dense}, tmp_path / "w.png")
        assert _is_png(path)
        plots.weights({"TT": tt}, tmp_path / "big.png", max_dense_values=10)
        first, cores_only = figures
        titles = " | ".join(first["titles"])
        assert "TT: the 3 TT cores, each scaled to +-1" in titles
        assert "dense: W" in titles and "subsampled" not in titles
        assert "entries of the TT cores" in " ".join(cores_only["titles"])
