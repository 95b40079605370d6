"""How an experiment's examples are split: the video experiments' folds
(ours, grouped, or the 2017 scripts' random ones) and official splits,
and a stratified holdout of labelled rows."""

import numpy as np

from ttrnn.experiments.experiment import SEED_2017
from ttrnn.experiments.registry import ExperimentError


def video_splits(experiment, dataset, folds=None, seed=0):
    """The (train, test) index pairs a video experiment runs.

    Args:
        experiment: the `Experiment` (`split` "cv5", "cv5-2017" or "official").
        dataset: its `VideoDataset`.
        folds: fold numbers to run (cv5), `None` for all five.
        seed: seed of the fold assignment.

    Returns:
        A list of `(label, train_indices, test_indices)`.
    """
    if experiment.cross_validated:
        if experiment.split == "cv5":
            every = dataset.folds(5, seed=seed)
        else:
            every = folds_2017(len(dataset))
        chosen = range(5) if folds is None else folds
        for fold in chosen:
            if not 0 <= fold < 5:
                raise ExperimentError(
                    f"Folds are numbered 0 to 4. Received: fold={fold}"
                )
        return [(f"fold-{f}", *every[f]) for f in chosen]
    key = 1 if experiment.name == "hmdb51" else None
    train, test = dataset.split(key)
    return [("official", train, test)]


def folds_2017(count, k=5):
    """The 2017 video scripts' cross-validation folds of `count` clips:
    `np.random.seed(11111986)`, a permutation
    (`np.random.choice(n, n, False)`), cut by `np.array_split` into `k`
    runs; fold i tests on run i and trains on the others.

    Returns:
        A list of `k` `(train_indices, test_indices)`, sorted indices.
    """
    # Legacy RandomState: the numbers the 2017 scripts drew.
    order = np.random.RandomState(SEED_2017).choice(count, count, False)
    runs = np.array_split(order, k)
    return [
        (np.sort(np.concatenate(runs[:i] + runs[i + 1 :])), np.sort(test))
        for i, test in enumerate(runs)
    ]


def stratified_split(labels, test_fraction, seed):
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test.extend(members[: round(test_fraction * len(members))])
    test = np.sort(np.asarray(test, dtype=np.int64))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test
