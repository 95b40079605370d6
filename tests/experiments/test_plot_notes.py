"""What the figures say: the demo's curves cover every fold, a sequence's
relevance has axes and a colour bar, and skipped plots are reported."""

import numpy as np
import pytest

from ttrnn import cli
from ttrnn.experiments import demo
from ttrnn.experiments import plots
from ttrnn.experiments import relevance_plots

pytest.importorskip("matplotlib")


def _recorded_figures(monkeypatch):
    """Records the texts and bars of every figure saved."""
    import matplotlib.figure

    figures = []
    save = matplotlib.figure.Figure.savefig

    def savefig(fig, *args, **kwargs):
        fig.canvas.draw()
        figures.append(
            {
                "suptitle": fig._suptitle.get_text() if fig._suptitle else "",
                "titles": [ax.get_title() for ax in fig.axes],
                "xlabels": [ax.get_xlabel() for ax in fig.axes],
                "ylabels": [ax.get_ylabel() for ax in fig.axes],
                "legend": [
                    t.get_text()
                    for ax in fig.axes
                    if ax.get_legend()
                    for t in ax.get_legend().get_texts()
                ],
                "bars": [
                    [p.get_width() for p in ax.patches] for ax in fig.axes
                ],
                "images": sum(len(ax.get_images()) for ax in fig.axes),
            }
        )
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return figures


def _no_matplotlib():
    raise ModuleNotFoundError("No module named 'matplotlib'")


def test_sequence_heatmap_has_axes_colour_bar_and_step_sums(
    tmp_path, monkeypatch
):
    figures = _recorded_figures(monkeypatch)
    rng = np.random.default_rng(0)
    x = (rng.random((6, 40)) > 0.5).astype("float32")
    x[:2] = 0  # pre-padding: not drawn
    relevance = rng.normal(size=(6, 40))
    relevance[:2] = 0
    path = relevance_plots.sequence_heatmap(
        tmp_path / "r.png", x, relevance, "T"
    )
    assert path.read_bytes()[:4] == b"\x89PNG"
    (figure,) = figures
    assert figure["suptitle"] == "T"
    assert figure["images"] == 2
    assert figure["xlabels"][:3] == [
        "input feature",
        "input feature",
        "relevance a step",
    ]
    assert figure["ylabels"][0] == "step"
    # The colour bars are axes of their own, labelled.
    assert "relevance (red: for, blue: against)" in figure["ylabels"]
    assert "input value" in figure["ylabels"]
    np.testing.assert_allclose(
        figure["bars"][2], relevance[2:].sum(axis=1), rtol=1e-6
    )


def test_fibonacci_relevance_png_and_skipped_plots(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    argv = ["experiment", "fibonacci", "--epochs", "1", "--verbose", "0"]
    with monkeypatch.context() as patch:
        patch.setattr(plots, "pyplot", _no_matplotlib)
        assert cli.main(argv + ["--out", str(out)]) == 0
        assert cli.main(["explain", str(out), "--index", "0"]) == 0
    err = capsys.readouterr().err
    line = (
        "ttrnn: plots skipped: No module named 'matplotlib' "
        "(pip install matplotlib)"
    )
    assert err.count(line) == 2, err
    assert not (out / "curves.png").exists()
    figures = _recorded_figures(monkeypatch)
    assert cli.main(["explain", str(out), "--index", "0"]) == 0
    assert (out / "explain" / "test-0" / "relevance.png").is_file()
    (figure,) = figures
    assert figure["suptitle"] == "fibonacci: relevance"
    assert "input feature" in figure["xlabels"]
    assert "relevance (red: for, blue: against)" in figure["ylabels"]


def test_demo_curves_show_every_fold(tmp_path, av, monkeypatch):
    monkeypatch.setattr(
        demo,
        "QUICK",
        dict(demo.QUICK, num_classes=2, learning_rate=1e-2, folds=(0, 1)),
    )
    figures = _recorded_figures(monkeypatch)
    out = tmp_path / "demo"
    argv = ["demo", "--quick", "--epochs", "1", "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    curves = [f for f in figures if "folds" in f["suptitle"]]
    assert [f["suptitle"] for f in curves] == [
        "TT-GRU vs GRU on generated motion videos, 2 folds"
    ]
    legend = set(curves[0]["legend"])
    for model in ("tt-gru", "gru"):
        for fold in ("fold-0", "fold-1"):
            assert any(t.startswith(f"{model} {fold}") for t in legend), legend
