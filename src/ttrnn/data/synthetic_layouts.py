"""Synthetic motion clips written as video files in real dataset layouts.

Each writer draws clips with `render_motion_clip` (class `i` of a dataset
shows motion pattern `i` of `MOTION_CLASSES`) and lays them out exactly as
the real dataset is laid out, so the readers of `ttrnn.data.layouts` and
the whole training pipeline can run end to end without the real data.
Writing video files needs PyAV (`pip install ttrnn[video]`).
"""

import os

import numpy as np

from ttrnn.data.layouts import HMDB51_CLASSES
from ttrnn.data.layouts import HOLLYWOOD2_ACTIONS
from ttrnn.data.layouts import UCF11_CLASSES
from ttrnn.data.synthetic import MOTION_CLASSES
from ttrnn.data.synthetic import render_motion_clip
from ttrnn.data.video import write_video

CELEBRITY_NAMES = (
    "ada_lovelace",
    "alan_turing",
    "grace_hopper",
    "john_von_neumann",
    "emmy_noether",
    "carl_friedrich_gauss",
    "marie_curie",
    "leonhard_euler",
    "sofia_kovalevskaya",
    "niels_henrik_abel",
    "katherine_johnson",
    "srinivasa_ramanujan",
)


def write_ucf11_like(
    root,
    num_classes=11,
    groups_per_class=3,
    clips_per_group=2,
    num_frames=16,
    frame_shape=(120, 160),
    seed=0,
):
    """Writes synthetic clips in the UCF11 layout.

    Files: `<root>/<class>/v_<class>_<gg>/v_<class>_<gg>_<cc>.mpg` with the
    real class names. Clips of one group share the motion class.

    Args:
        root: output directory (created if needed).
        num_classes: number of classes, 1 to 11. Defaults to 11.
        groups_per_class: `v_<class>_<gg>` folders per class. Defaults to 3.
        clips_per_group: clips per folder. Defaults to 2.
        num_frames: frames per clip. Defaults to 16.
        frame_shape: `(height, width)`, both even (MPEG-1). Defaults to
            `(120, 160)`.
        seed: seed of the random generator. Defaults to 0.

    Returns:
        The list of written clip paths.
    """
    names = _names(UCF11_CLASSES, num_classes)

    def clip_paths(label, name):
        for group in range(1, groups_per_class + 1):
            folder = f"v_{name}_{group:02d}"
            for clip in range(1, clips_per_group + 1):
                yield os.path.join(
                    root, name, folder, f"{folder}_{clip:02d}.mpg"
                )

    return _write_per_class(names, clip_paths, num_frames, frame_shape, seed)


def write_hollywood2_like(
    root,
    num_train=24,
    num_test=24,
    num_actions=12,
    second_label_rate=0.2,
    num_frames=16,
    frame_shape=(120, 160),
    seed=0,
):
    """Writes synthetic clips in the Hollywood2 layout.

    Files: `<root>/AVIClips/actioncliptrain00001.avi` (and `actioncliptest`)
    and `<root>/ClipSets/<Action>_{train,test}.txt`, each listing every clip
    of its subset as `"<clip>  1"` or `"<clip>  -1"`. Each clip shows one
    action, or two with probability `second_label_rate`.

    Args:
        root: output directory (created if needed).
        num_train: number of training clips. Defaults to 24.
        num_test: number of test clips. Defaults to 24.
        num_actions: number of actions, 1 to 12. Defaults to 12.
        second_label_rate: probability that a clip shows a second action.
            Defaults to 0.2.
        num_frames: frames per clip. Defaults to 16.
        frame_shape: `(height, width)`. Defaults to `(120, 160)`.
        seed: seed of the random generator. Defaults to 0.

    Returns:
        A uint8 multi-hot matrix `(num_train + num_test, num_actions)`: the
        labels of the train clips, then of the test clips.
    """
    actions = _names(HOLLYWOOD2_ACTIONS, num_actions)
    rng = np.random.default_rng(seed)
    rows = []
    os.makedirs(os.path.join(root, "ClipSets"), exist_ok=True)
    for subset, count in (("train", num_train), ("test", num_test)):
        names, targets = [], np.zeros((count, num_actions), np.uint8)
        for i in range(count):
            classes = [i % num_actions]
            if num_actions > 1 and rng.random() < second_label_rate:
                other = rng.integers(num_actions - 1)
                classes.append(other + (other >= classes[0]))
            targets[i, classes] = 1
            names.append(f"actionclip{subset}{i + 1:05d}")
            path = os.path.join(root, "AVIClips", f"{names[-1]}.avi")
            _write_clip(path, classes, num_frames, frame_shape, rng)
        for a, action in enumerate(actions):
            lines = [
                f"{name}  {1 if targets[i, a] else -1}\n"
                for i, name in enumerate(names)
            ]
            listing = os.path.join(root, "ClipSets", f"{action}_{subset}.txt")
            with open(listing, "w", encoding="utf-8") as file:
                file.writelines(lines)
        rows.append(targets)
    return np.concatenate(rows)


def write_hmdb51_like(
    root,
    num_classes=4,
    clips_per_class=10,
    num_frames=16,
    frame_shape=(120, 160),
    seed=0,
):
    """Writes synthetic clips in the HMDB51 layout.

    Files: `<root>/<class>/<clip>.avi` with the real class names, and
    `<root>/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt`, lines
    `"<clip>.avi <id> "` with id 1 train (60 %), 2 test (30 %) and 0 unused,
    drawn independently for each split.

    Args:
        root: output directory (created if needed).
        num_classes: number of classes, 1 to 12 (the motion patterns).
            Defaults to 4.
        clips_per_class: clips per class. Defaults to 10.
        num_frames: frames per clip. Defaults to 16.
        frame_shape: `(height, width)`. Defaults to `(120, 160)`.
        seed: seed of the random generator. Defaults to 0.

    Returns:
        A dict from split number (1, 2, 3) to a dict from `"<class>/<clip>"`
        to the role id written.
    """
    names = _names(HMDB51_CLASSES, num_classes)
    rng = np.random.default_rng(seed)
    split_dir = os.path.join(root, "testTrainMulti_7030_splits")
    os.makedirs(split_dir, exist_ok=True)
    roles = {1: {}, 2: {}, 3: {}}
    for label, name in enumerate(names):
        clips = [
            f"clip{i:03d}_{name}_f_cm_np1_fr_med_{i % 3}.avi"
            for i in range(clips_per_class)
        ]
        for clip in clips:
            path = os.path.join(root, name, clip)
            _write_clip(path, [label], num_frames, frame_shape, rng)
        for number, written in roles.items():
            ids = np.zeros(clips_per_class, np.int64)
            order = rng.permutation(clips_per_class)
            num_train = round(0.6 * clips_per_class)
            num_test = round(0.3 * clips_per_class)
            ids[order[:num_train]] = 1
            ids[order[num_train : num_train + num_test]] = 2
            listing = os.path.join(split_dir, f"{name}_test_split{number}.txt")
            with open(listing, "w", encoding="utf-8") as file:
                for clip, role in zip(clips, ids):
                    file.write(f"{clip} {role} \n")
                    written[f"{name}/{clip}"] = int(role)
    return roles


def write_youtube_celebrities_like(
    root,
    num_people=4,
    videos_per_person=2,
    clips_per_video=2,
    num_frames=16,
    frame_shape=(120, 160),
    seed=0,
):
    """Writes synthetic clips in the YouTube Celebrities layout.

    Files: `<root>/<pppp>_<vv>_<ccc>_<person_name>.avi` (person id, video
    id, clip id, name) in one folder; person `i` shows motion pattern `i`.

    Args:
        root: output directory (created if needed).
        num_people: number of people, 1 to 12. Defaults to 4.
        videos_per_person: source videos per person. Defaults to 2.
        clips_per_video: clips cut from each video. Defaults to 2.
        num_frames: frames per clip. Defaults to 16.
        frame_shape: `(height, width)`. Defaults to `(120, 160)`.
        seed: seed of the random generator. Defaults to 0.

    Returns:
        The list of written clip paths.
    """
    people = _names(CELEBRITY_NAMES, num_people)

    def clip_paths(label, person):
        for video in range(1, videos_per_person + 1):
            for clip in range(1, clips_per_video + 1):
                name = f"{label + 1:04d}_{video:02d}_{clip:03d}_{person}.avi"
                yield os.path.join(root, name)

    return _write_per_class(people, clip_paths, num_frames, frame_shape, seed)


def _names(names, count):
    limit = min(len(names), len(MOTION_CLASSES))
    valid = isinstance(count, (int, np.integer)) and not isinstance(count, bool)
    if not valid or not 1 <= count <= limit:
        raise ValueError(
            f"The number of classes must be an integer in [1, {limit}]. "
            f"Received: {count!r}"
        )
    return names[:count]


def _write_per_class(names, clip_paths, num_frames, frame_shape, seed):
    """Writes a clip of class `label` at each of `clip_paths(label, name)`
    for each class of `names`, one random generator for all; returns the
    paths in the order written."""
    rng = np.random.default_rng(seed)
    paths = []
    for label, name in enumerate(names):
        for path in clip_paths(label, name):
            _write_clip(path, [label], num_frames, frame_shape, rng)
            paths.append(path)
    return paths


def _write_clip(path, classes, num_frames, frame_shape, rng):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frames = render_motion_clip(classes, num_frames, frame_shape, rng)
    write_video(path, frames)
