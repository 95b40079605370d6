"""A labelled list of video clips with its splits and cross-validation folds."""

import dataclasses

import numpy as np

TRAIN, TEST, UNUSED = 1, 2, 0


class DatasetNotFoundError(FileNotFoundError):
    """A dataset directory is missing, empty or not in the expected layout."""


class SkippedClipWarning(UserWarning):
    """A clip was left out because it is missing, unreadable or corrupt."""


@dataclasses.dataclass(frozen=True, eq=False)
class VideoDataset:
    """Video clips on disk with their labels, groups and official splits.

    Args:
        name: name of the dataset, e.g. `"ucf11"`.
        clips: tuple of clip file paths.
        labels: int32 array `(clips,)` of class indices, or, for multi-label
            data (Hollywood2), a uint8 multi-hot array `(clips, classes)`.
        class_names: tuple of class names, indexed by the labels.
        groups: array `(clips,)` of group keys (clips of one group never
            span a train and a test fold), or `None`: each clip alone.
        splits: dict from split name to an int8 array `(clips,)` of roles:
            1 train, 2 test, 0 unused (the HMDB51 convention).
    """

    name: str
    clips: tuple
    labels: np.ndarray
    class_names: tuple
    groups: np.ndarray = None
    splits: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n = len(self.clips)
        if len(self.labels) != n:
            raise ValueError(
                f"Argument `labels` must have one entry per clip ({n}). "
                f"Received: {len(self.labels)} labels"
            )
        if self.groups is not None and len(self.groups) != n:
            raise ValueError(
                f"Argument `groups` must have one entry per clip ({n}). "
                f"Received: {len(self.groups)} groups"
            )
        for key, roles in self.splits.items():
            if len(roles) != n:
                raise ValueError(
                    f"Split {key!r} must have one role per clip ({n}). "
                    f"Received: {len(roles)} roles"
                )

    def __len__(self):
        return len(self.clips)

    def __repr__(self):
        kind = "multi-label " if self.multi_label else ""
        return (
            f"VideoDataset(name={self.name!r}, clips={len(self)}, "
            f"{kind}classes={self.num_classes}, "
            f"grouped={self.groups is not None}, splits={list(self.splits)})"
        )

    @property
    def multi_label(self):
        """Whether `labels` is a multi-hot matrix (several classes a clip)."""
        return self.labels.ndim == 2

    @property
    def num_classes(self):
        """Number of classes."""
        return len(self.class_names)

    def subset(self, indices):
        """Returns the dataset restricted to some clips.

        Args:
            indices: integer indices (or a boolean mask) of the clips to
                keep, in the order given.

        Returns:
            A new `VideoDataset`.
        """
        indices = np.asarray(indices)
        if indices.dtype != bool:
            indices = indices.astype(np.int64)
        indices = np.arange(len(self))[indices]
        return dataclasses.replace(
            self,
            clips=tuple(self.clips[i] for i in indices),
            labels=self.labels[indices],
            groups=None if self.groups is None else self.groups[indices],
            splits={k: v[indices] for k, v in self.splits.items()},
        )

    def split(self, name=None):
        """Returns the train and test indices of an official split.

        Args:
            name: key of `splits` (HMDB51: 1, 2 or 3; Hollywood2:
                `"official"`). `None` picks the first split.

        Returns:
            A tuple `(train_indices, test_indices)` of int arrays; clips
            marked unused (0) are in neither.
        """
        if not self.splits:
            raise ValueError(
                f"Dataset {self.name!r} has no official split; use "
                "`folds(k)` for cross-validation instead."
            )
        if name is None:
            name = next(iter(self.splits))
        if name not in self.splits:
            raise ValueError(
                f"Argument `name` must be one of {list(self.splits)}. "
                f"Received: name={name!r}"
            )
        roles = self.splits[name]
        return np.flatnonzero(roles == TRAIN), np.flatnonzero(roles == TEST)

    def folds(self, k=5, seed=0, grouped=True):
        """Splits the clips into `k` cross-validation folds.

        Folds are balanced per class (by the first label of multi-label
        clips) and, with `grouped=True`, never split a group.

        Args:
            k: number of folds, at least 2. Defaults to 5.
            seed: seed of the shuffle of the groups. Defaults to 0.
            grouped: keep the clips of a group (e.g. a UCF11 `v_<class>_<nn>`
                folder) in one fold. Defaults to `True`.

        Returns:
            A list of `k` tuples `(train_indices, test_indices)`; the test
            indices of the folds partition `range(len(self))`.
        """
        groups = self.groups if grouped else None
        return grouped_kfold(self._stratum(), groups, k, seed)

    def _stratum(self):
        if self.multi_label:
            return np.argmax(self.labels, axis=1)
        return np.asarray(self.labels)


def grouped_kfold(labels, groups, k=5, seed=0):
    """Class-balanced k-fold cross-validation that keeps groups together.

    Groups are shuffled, then dealt one by one (by class, largest first) to
    the fold holding the fewest clips of that class, ties going to the
    smallest fold.

    Args:
        labels: int array `(n,)` of class indices (used for balancing).
        groups: array `(n,)` of group keys, or `None` for one clip a group.
        k: number of folds, at least 2.
        seed: seed of the shuffle.

    Returns:
        A list of `k` tuples `(train_indices, test_indices)` of sorted int
        arrays.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if groups is None:
        groups = np.arange(n)
    _, group_ids = np.unique(np.asarray(groups), return_inverse=True)
    group_ids = group_ids.reshape(-1)
    num_groups = group_ids.max() + 1 if n else 0
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(
            f"Argument `k` must be an integer >= 2. Received: k={k!r}"
        )
    if num_groups < k:
        raise ValueError(
            f"Argument `k` must not exceed the number of groups "
            f"({num_groups}). Received: k={k}"
        )
    _, first = np.unique(group_ids, return_index=True)
    group_label = labels[first]
    group_size = np.bincount(group_ids, minlength=num_groups)
    rng = np.random.default_rng(seed)
    order = rng.permutation(num_groups)
    order = order[np.lexsort((-group_size[order], group_label[order]))]
    classes, label_ids = np.unique(group_label, return_inverse=True)
    per_class = np.zeros((k, len(classes)), dtype=np.int64)
    fold_size = np.zeros(k, dtype=np.int64)
    fold_of_group = np.empty(num_groups, dtype=np.int64)
    for g in order:
        c = label_ids[g]
        fold = np.lexsort((fold_size, per_class[:, c]))[0]
        fold_of_group[g] = fold
        per_class[fold, c] += group_size[g]
        fold_size[fold] += group_size[g]
    clip_fold = fold_of_group[group_ids]
    return [
        (np.flatnonzero(clip_fold != f), np.flatnonzero(clip_fold == f))
        for f in range(k)
    ]
