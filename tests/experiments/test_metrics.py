"""The NumPy metrics against brute-force definitions."""

import itertools

import numpy as np
import pytest

from ttrnn.experiments import metrics


def _auroc_pairs(y, s):
    """P(score of a positive > score of a negative), ties count 1/2."""
    pos, neg = s[y == 1], s[y == 0]
    wins = [1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg]
    return np.mean(wins)


def _ap_definition(y, s):
    """Mean over positives of the precision among the items ranked above."""
    order = np.argsort(-s, kind="stable")
    y = y[order]
    return np.mean([y[: i + 1].mean() for i in range(len(y)) if y[i] == 1])


class TestMetrics:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_auroc_with_ties(self, seed):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, 40)
        s = np.round(rng.random(40), 1)  # many ties
        assert metrics.auroc(y, s) == pytest.approx(_auroc_pairs(y, s))

    def test_auroc_perfect_and_single_class(self):
        assert metrics.auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
        assert np.isnan(metrics.auroc([1, 1], [0.1, 0.2]))

    def test_average_precision(self):
        rng = np.random.default_rng(3)
        y = rng.integers(0, 2, 30)
        s = rng.random(30)
        assert metrics.average_precision(y, s) == pytest.approx(
            _ap_definition(y, s)
        )

    def test_map_skips_classes_without_positives(self):
        y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
        s = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.1], [0.1, 0.3, 0.2]])
        expected = np.mean([_ap_definition(y[:, c], s[:, c]) for c in (0, 1)])
        assert metrics.mean_average_precision(y, s) == pytest.approx(expected)

    def test_evaluate_tasks(self):
        probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]])
        out = metrics.evaluate("multiclass", [0, 2, 1], probs)
        # Each class's probability ranks its one positive first.
        assert out == {
            "accuracy": pytest.approx(2 / 3),
            "auroc": 1.0,
            "auprc": 1.0,
        }
        out = metrics.evaluate("binary", [1, 0, 1, 0], [0.9, 0.4, 0.3, 0.1])
        assert out["accuracy"] == 0.75
        assert out["auroc"] == pytest.approx(0.75)
        y = np.arange(6.0).reshape(3, 2)
        out = metrics.evaluate("regression", y, y + 0.5)
        assert out == {"mse": pytest.approx(0.25)}

    def test_average_ranks(self):
        values = np.array([3.0, 1.0, 3.0, 2.0])
        ranks = metrics._average_ranks(values)
        brute = [
            1
            + sum(v < x for v in values)
            + (sum(v == x for v in values) - 1) / 2
            for x in values
        ]
        np.testing.assert_allclose(ranks, brute)
        assert list(itertools.chain(ranks)) == [3.5, 1.0, 3.5, 2.0]


def test_multiclass_one_vs_rest_is_the_macro_mean():
    """Macro over classes of the one-hot AUROC and average precision; a
    class absent from the labels has no curve and is left out."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 4, 60)  # class 4 of 5 never occurs
    p = rng.dirichlet(np.ones(5), 60)
    got = metrics.evaluate("multiclass", y, p)
    aurocs = [_auroc_pairs((y == c).astype(int), p[:, c]) for c in range(4)]
    aps = [_ap_definition((y == c).astype(int), p[:, c]) for c in range(4)]
    assert got["auroc"] == pytest.approx(np.mean(aurocs))
    assert got["auprc"] == pytest.approx(np.mean(aps))
    assert got["accuracy"] == pytest.approx(np.mean(p.argmax(1) == y))
    assert np.isnan(
        metrics.one_vs_rest([1, 1], [[0.3, 0.7], [0.4, 0.6]])["auroc"]
    )
