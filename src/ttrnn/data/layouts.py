"""Readers of the on-disk layouts of the four video datasets of TT-RNN.

Each `load_*` function lists the clips of a dataset directory with their
labels and splits, without decoding any video (see `FrameCache` for that),
and returns a `VideoDataset`.
"""

import os
import re
import warnings

import numpy as np

from ttrnn.data.clips import TEST
from ttrnn.data.clips import TRAIN
from ttrnn.data.clips import DatasetNotFoundError
from ttrnn.data.clips import SkippedClipWarning
from ttrnn.data.clips import VideoDataset
from ttrnn.data.listing import existing_dir
from ttrnn.data.listing import read_listing
from ttrnn.data.listing import subdirs
from ttrnn.data.listing import videos_below
from ttrnn.data.listing import warn_missing

UCF11_CLASSES = (
    "basketball",
    "biking",
    "diving",
    "golf_swing",
    "horse_riding",
    "soccer_juggling",
    "swing",
    "tennis_swing",
    "trampoline_jumping",
    "volleyball_spiking",
    "walking",
)
HOLLYWOOD2_ACTIONS = (
    "AnswerPhone",
    "DriveCar",
    "Eat",
    "FightPerson",
    "GetOutCar",
    "HandShake",
    "HugPerson",
    "Kiss",
    "Run",
    "SitDown",
    "SitUp",
    "StandUp",
)
HMDB51_CLASSES = (
    "brush_hair",
    "cartwheel",
    "catch",
    "chew",
    "clap",
    "climb",
    "climb_stairs",
    "dive",
    "draw_sword",
    "dribble",
    "drink",
    "eat",
    "fall_floor",
    "fencing",
    "flic_flac",
    "golf",
    "handstand",
    "hit",
    "hug",
    "jump",
    "kick",
    "kick_ball",
    "kiss",
    "laugh",
    "pick",
    "pour",
    "pullup",
    "punch",
    "push",
    "pushup",
    "ride_bike",
    "ride_horse",
    "run",
    "shake_hands",
    "shoot_ball",
    "shoot_bow",
    "shoot_gun",
    "sit",
    "situp",
    "smile",
    "smoke",
    "somersault",
    "stand",
    "swing_baseball",
    "sword",
    "sword_exercise",
    "talk",
    "throw",
    "turn",
    "walk",
    "wave",
)

_UCF11_HELP = (
    "Expected the UCF11 (UCF YouTube Action) layout "
    "<data_dir>/<class>/v_<name>_<group>/<clip>.mpg, e.g. "
    "basketball/v_shooting_01/v_shooting_01_01.mpg; get it as "
    "UCF11_updated_mpg.rar from https://www.crcv.ucf.edu/data/"
    "UCF_YouTube_Action.php and unpack it."
)
_HOLLYWOOD2_HELP = (
    "Expected the Hollywood2 layout <data_dir>/AVIClips/<clip>.avi and "
    "<data_dir>/ClipSets/<Action>_{train,test}.txt (lines '<clip> 1' or "
    "'<clip> -1'); get Hollywood2-actions.tar.gz from "
    "https://www.di.ens.fr/~laptev/actions/hollywood2/ and unpack it."
)
_HMDB51_HELP = (
    "Expected the HMDB51 layout <data_dir>/<class>/<clip>.avi with the split "
    "files <class>_test_split{1,2,3}.txt (lines '<clip>.avi <id>', id 1 "
    "train, 2 test, 0 unused) anywhere below <data_dir>; get hmdb51_org.rar "
    "and test_train_splits.rar from https://serre-lab.clps.brown.edu/"
    "resource/hmdb-a-large-human-motion-database/ and unpack them (and the "
    "per-class archives inside)."
)
_YTC_HELP = (
    "Expected the YouTube Celebrities layout: video files named "
    "<person id>_<video id>_<clip id>_<person_name>.avi, e.g. "
    "0001_01_005_alanis_morissette.avi, anywhere below <data_dir>; get the "
    "YouTube Celebrities Face Tracking and Recognition Dataset (Kim et al., "
    "CVPR 2008) from its authors."
)
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<n>\d+)\.txt$")
_UCF11_CLIP = re.compile(r"^(v_.+_\d+)_\d+$")


def load_ucf11(data_dir):
    """Lists the clips of UCF11 with their classes and groups.

    Layout: `<data_dir>/<class>/v_<name>_<group>/<clip>.mpg` (`.avi` and
    `.mp4` are accepted too); `data_dir` may also be the folder holding
    `UCF11_updated_mpg/`. The group of a clip is its `<class>/v_<...>`
    folder: its clips come from one source video, so `folds()` keeps them
    in one fold (the 2017 protocol is 5-fold cross-validation).

    Args:
        data_dir: the dataset directory.

    Returns:
        A `VideoDataset` named `"ucf11"` with groups and no official split.

    Raises:
        DatasetNotFoundError: if `data_dir` is missing or holds no clip in
            this layout.
    """
    root = existing_dir(data_dir, "UCF11", _UCF11_HELP)
    wrapped = os.path.join(root, "UCF11_updated_mpg")
    if os.path.isdir(wrapped):
        root = wrapped
    clips, labels, groups, class_names = [], [], [], []
    for name in subdirs(root):
        found = sorted(videos_below(os.path.join(root, name)))
        if not found:
            continue
        for path in found:
            clips.append(path)
            labels.append(len(class_names))
            groups.append(f"{name}/{_ucf11_group(path, root, name)}")
        class_names.append(name)
    if not clips:
        raise DatasetNotFoundError(
            f"No video clip found in data_dir={root!r}. {_UCF11_HELP}"
        )
    return VideoDataset(
        name="ucf11",
        clips=tuple(clips),
        labels=np.asarray(labels, dtype=np.int32),
        class_names=tuple(class_names),
        groups=np.asarray(groups),
    )


def load_hollywood2(data_dir, actions=HOLLYWOOD2_ACTIONS):
    """Lists the clips of Hollywood2 with multi-hot action labels.

    Layout: `<data_dir>/AVIClips/<clip>.avi` and
    `<data_dir>/ClipSets/<Action>_{train,test}.txt`, one line per clip,
    `"<clip> 1"` if the action happens in it and `"<clip> -1"` if not.
    `data_dir` may also be the folder holding `Hollywood2/`. Clips listed
    but missing from `AVIClips` are skipped with a `SkippedClipWarning`.

    Args:
        data_dir: the dataset directory.
        actions: the action names (ClipSets file prefixes). Defaults to the
            12 actions of Hollywood2.

    Returns:
        A `VideoDataset` named `"hollywood2"` (train clips first, then test
        clips, each by name), labels a uint8 matrix `(clips, actions)`, and
        the official train/test split under the key `"official"`.

    Raises:
        DatasetNotFoundError: if a directory or ClipSets file is missing.
    """
    root = existing_dir(data_dir, "Hollywood2", _HOLLYWOOD2_HELP)
    if not os.path.isdir(os.path.join(root, "ClipSets")):
        root = os.path.join(root, "Hollywood2")
    clip_dir = os.path.join(root, "AVIClips")
    for folder in (clip_dir, os.path.join(root, "ClipSets")):
        if not os.path.isdir(folder):
            raise DatasetNotFoundError(
                f"Missing directory {folder!r}. {_HOLLYWOOD2_HELP}"
            )
    actions = tuple(actions)
    subset_of, targets = {}, {}
    for subset, role in (("train", TRAIN), ("test", TEST)):
        for a, action in enumerate(actions):
            listing = os.path.join(root, "ClipSets", f"{action}_{subset}.txt")
            for clip, value in read_listing(listing, _HOLLYWOOD2_HELP):
                subset_of[clip] = role
                row = targets.setdefault(clip, np.zeros(len(actions), "uint8"))
                row[a] = int(value) > 0
    clips, rows, roles, missing = [], [], [], []
    for clip in sorted(targets, key=lambda c: (subset_of[c], c)):
        path = os.path.join(clip_dir, f"{clip}.avi")
        if not os.path.isfile(path):
            missing.append(clip)
            continue
        clips.append(path)
        rows.append(targets[clip])
        roles.append(subset_of[clip])
    warn_missing(missing, clip_dir)
    if not clips:
        raise DatasetNotFoundError(
            f"No clip of the ClipSets found in {clip_dir!r}. {_HOLLYWOOD2_HELP}"
        )
    return VideoDataset(
        name="hollywood2",
        clips=tuple(clips),
        labels=np.stack(rows),
        class_names=actions,
        splits={"official": np.asarray(roles, dtype=np.int8)},
    )


def load_hmdb51(data_dir, splits_dir=None):
    """Lists the clips of HMDB51 with their classes and official splits.

    Layout: `<data_dir>/<class>/<clip>.avi`, and the split files
    `<class>_test_split{1,2,3}.txt` (lines `"<clip>.avi <id>"`, id 1 train,
    2 test, 0 unused) in `splits_dir`, by default the first folder below
    `data_dir` that holds them (e.g. `testTrainMulti_7030_splits/`). Clips
    named in a split file but missing on disk are skipped with a
    `SkippedClipWarning`; clips not named in a split are unused in it.

    Args:
        data_dir: the dataset directory.
        splits_dir: directory of the split files, or `None` to search
            `data_dir`.

    Returns:
        A `VideoDataset` named `"hmdb51"` with splits under the keys 1, 2
        and 3 (those with files).

    Raises:
        DatasetNotFoundError: if `data_dir` holds no class folder of clips
            or no split file is found.
    """
    root = existing_dir(data_dir, "HMDB51", _HMDB51_HELP)
    if splits_dir is None:
        splits_dir = _find_split_dir(root)
    else:
        splits_dir = existing_dir(splits_dir, "HMDB51 splits", _HMDB51_HELP)
    by_class = {}
    for path in videos_below(root):
        if os.path.splitext(path)[1].lower() == ".avi":
            name = os.path.basename(os.path.dirname(path))
            by_class.setdefault(name, {})[os.path.basename(path)] = path
    split_files = {}
    for entry in sorted(os.listdir(splits_dir)):
        match = _SPLIT_FILE.match(entry)
        if match:
            key = (match["cls"], int(match["n"]))
            split_files[key] = os.path.join(splits_dir, entry)
    class_names = sorted({cls for cls, _ in split_files})
    if not class_names:
        raise DatasetNotFoundError(
            f"No split file found in {splits_dir!r}. {_HMDB51_HELP}"
        )
    clips, labels, index = [], [], {}
    for label, cls in enumerate(class_names):
        for name, path in sorted(by_class.get(cls, {}).items()):
            index[(cls, name)] = len(clips)
            clips.append(path)
            labels.append(label)
    if not clips:
        raise DatasetNotFoundError(
            f"No clip of the classes in the split files found in "
            f"data_dir={root!r}. {_HMDB51_HELP}"
        )
    splits, missing = {}, set()
    for (cls, number), listing in sorted(split_files.items()):
        roles = splits.setdefault(number, np.zeros(len(clips), np.int8))
        for name, role in read_listing(listing, _HMDB51_HELP):
            if (cls, name) in index:
                roles[index[(cls, name)]] = int(role)
            else:
                missing.add(f"{cls}/{name}")
    warn_missing(sorted(missing), root)
    return VideoDataset(
        name="hmdb51",
        clips=tuple(clips),
        labels=np.asarray(labels, dtype=np.int32),
        class_names=tuple(class_names),
        splits=dict(sorted(splits.items())),
    )


def load_youtube_celebrities(data_dir):
    """Lists the clips of YouTube Celebrities with the person of each.

    Convention: the file name is
    `<person id>_<video id>_<clip id>_<person_name>.<ext>` (e.g.
    `0001_01_005_alanis_morissette.avi`): the leading all-digit fields are
    ids and the rest, lower-cased, is the person. A name without such a
    part takes the name of its folder (one folder per person). The group of
    a clip is its person and source video (all id fields but the last), so
    `folds()` keeps clips cut from one video together; use
    `folds(grouped=False)` for the plain 5-fold CV of the 2017 code.

    Args:
        data_dir: the dataset directory, searched recursively.

    Returns:
        A `VideoDataset` named `"youtube_celebrities"` with groups.

    Raises:
        DatasetNotFoundError: if `data_dir` holds no video file.
    """
    root = existing_dir(data_dir, "YouTube Celebrities", _YTC_HELP)
    found = []
    for path in sorted(videos_below(root)):
        person, ids = parse_celebrity_name(path, root)
        if person is None:
            warnings.warn(
                f"Skipping {path!r}: no person name in the file name or "
                "its folder.",
                SkippedClipWarning,
                stacklevel=2,
            )
            continue
        source = "_".join(ids[:-1]) if len(ids) > 1 else os.path.basename(path)
        found.append((path, person, f"{person}/{source}"))
    if not found:
        raise DatasetNotFoundError(
            f"No video clip found in data_dir={root!r}. {_YTC_HELP}"
        )
    class_names = sorted({person for _, person, _ in found})
    lookup = {person: i for i, person in enumerate(class_names)}
    return VideoDataset(
        name="youtube_celebrities",
        clips=tuple(path for path, _, _ in found),
        labels=np.asarray([lookup[p] for _, p, _ in found], dtype=np.int32),
        class_names=tuple(class_names),
        groups=np.asarray([group for _, _, group in found]),
    )


def parse_celebrity_name(path, root=None):
    """Parses the person and id fields of a YouTube Celebrities clip name.

    Args:
        path: the clip path, e.g. `".../0001_01_005_alanis_morissette.avi"`.
        root: the dataset directory; a clip lying directly in it cannot
            take its person from its folder.

    Returns:
        A tuple `(person, ids)`: the lower-cased person name (words joined
        by `_`, or `None` if there is none) and the list of leading id
        fields.
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    tokens = [t for t in re.split(r"[_\-\s.]+", stem) if t]
    ids = []
    while tokens and tokens[0].isdigit():
        ids.append(tokens.pop(0))
    person = "_".join(tokens).lower()
    if not person:
        folder = os.path.dirname(os.path.abspath(path))
        if root is None or folder != os.path.abspath(root):
            person = os.path.basename(folder).lower().replace(" ", "_")
    return (person or None), ids


def _ucf11_group(path, root, class_name):
    parent = os.path.dirname(path)
    if os.path.abspath(parent) != os.path.abspath(
        os.path.join(root, class_name)
    ):
        return os.path.relpath(parent, os.path.join(root, class_name))
    stem = os.path.splitext(os.path.basename(path))[0]
    match = _UCF11_CLIP.match(stem)
    return match[1] if match else stem


def _find_split_dir(root):
    for parent, dirs, files in os.walk(root):
        dirs.sort()
        if any(_SPLIT_FILE.match(name) for name in files):
            return parent
    raise DatasetNotFoundError(
        f"No HMDB51 split file (*_test_split1.txt) found below "
        f"data_dir={root!r}; pass splits_dir. {_HMDB51_HELP}"
    )
