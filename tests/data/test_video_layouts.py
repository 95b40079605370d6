"""Tests of the dataset readers on tiny real video files in each layout."""

import os

import numpy as np
import pytest

from tests.data.data_helpers import TINY
from tests.data.data_helpers import ramp_clip
from ttrnn.data import layouts
from ttrnn.data.cache import FrameCache
from ttrnn.data.clips import DatasetNotFoundError
from ttrnn.data.clips import SkippedClipWarning
from ttrnn.data.layouts import load_hmdb51
from ttrnn.data.layouts import load_hollywood2
from ttrnn.data.layouts import load_ucf11
from ttrnn.data.layouts import load_youtube_celebrities
from ttrnn.data.layouts import parse_celebrity_name
from ttrnn.data.synthetic_layouts import write_hmdb51_like
from ttrnn.data.synthetic_layouts import write_hollywood2_like
from ttrnn.data.synthetic_layouts import write_ucf11_like
from ttrnn.data.synthetic_layouts import write_youtube_celebrities_like
from ttrnn.data.video import TruncatedVideoWarning
from ttrnn.data.video import write_video

TINY_CLIPS = {"num_frames": 3, "frame_shape": TINY}


def touch_clip(path, num_frames=2):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_video(path, ramp_clip(num_frames))


class TestUCF11:
    def test_synthetic_layout(self, av, tmp_path):
        written = write_ucf11_like(
            tmp_path,
            num_classes=3,
            groups_per_class=2,
            clips_per_group=2,
            **TINY_CLIPS,
        )
        assert os.path.isfile(
            tmp_path / "biking" / "v_biking_02" / "v_biking_02_01.mpg"
        )
        data = load_ucf11(tmp_path)
        assert data.class_names == ("basketball", "biking", "diving")
        assert sorted(data.clips) == sorted(str(p) for p in written)
        for clip, label, group in zip(data.clips, data.labels, data.groups):
            folder = os.path.basename(os.path.dirname(clip))
            cls = os.path.basename(os.path.dirname(os.path.dirname(clip)))
            assert data.class_names[label] == cls
            assert group == f"{cls}/{folder}"
        assert len(set(data.groups)) == 6
        assert data.labels.dtype == np.int32 and not data.multi_label

    def test_truncated_clip_is_reported_when_decoded(self, av, tmp_path):
        # A UCF11 .mpg cut in half (a broken download): MPEG-1 states no
        # length, so the clip is kept, but never silently.
        write_ucf11_like(
            tmp_path,
            num_classes=2,
            groups_per_class=1,
            clips_per_group=1,
            num_frames=24,
            frame_shape=(32, 40),
        )
        cut = tmp_path / "biking" / "v_biking_01" / "v_biking_01_01.mpg"
        data = cut.read_bytes()
        cut.write_bytes(data[: len(data) // 2])
        dataset = load_ucf11(tmp_path)
        cache = FrameCache(tmp_path / "cache", (32, 40))
        with pytest.warns(
            TruncatedVideoWarning,
            match=r"v_biking_01_01.mpg' looks truncated: \d+ frames decoded",
        ) as record:
            ready = cache.prepare(dataset, verbose=0)
        assert len(record) == 1
        assert ready.clips == dataset.clips
        assert 1 <= cache.num_frames(str(cut)) < 24

    def test_real_names_annotations_and_wrapper(self, av, tmp_path):
        root = tmp_path / "UCF11_updated_mpg"
        touch_clip(
            root / "basketball" / "v_shooting_01" / "v_shooting_01_01.mpg"
        )
        touch_clip(
            root / "basketball" / "v_shooting_01" / "v_shooting_01_02.mpg"
        )
        touch_clip(
            root / "basketball" / "v_shooting_02" / "v_shooting_02_01.mpg"
        )
        touch_clip(root / "walking" / "v_walk_dog_01" / "v_walk_dog_01_01.avi")
        (root / "basketball" / "Annotation").mkdir()
        (root / "basketball" / "Annotation" / "v_shooting_01_01.xgtf").touch()
        (root / "notes").mkdir()
        data = load_ucf11(tmp_path)
        assert data.class_names == ("basketball", "walking")
        np.testing.assert_array_equal(data.labels, [0, 0, 0, 1])
        assert list(data.groups) == [
            "basketball/v_shooting_01",
            "basketball/v_shooting_01",
            "basketball/v_shooting_02",
            "walking/v_walk_dog_01",
        ]

    def test_clips_directly_in_class_folder_group_by_name(self, av, tmp_path):
        touch_clip(tmp_path / "diving" / "v_diving_03_01.mpg")
        touch_clip(tmp_path / "diving" / "v_diving_03_02.mpg")
        touch_clip(tmp_path / "diving" / "v_diving_04_01.mpg")
        data = load_ucf11(tmp_path)
        assert list(data.groups) == ["diving/v_diving_03"] * 2 + [
            "diving/v_diving_04"
        ]

    def test_writer_class_count(self, tmp_path):
        with pytest.raises(ValueError, match=r"in \[1, 11\]"):
            write_ucf11_like(tmp_path, num_classes=12)

    def test_missing_and_empty_directory(self, tmp_path):
        with pytest.raises(DatasetNotFoundError, match="UCF11 directory"):
            load_ucf11(tmp_path / "absent")
        (tmp_path / "basketball").mkdir()
        with pytest.raises(DatasetNotFoundError, match="Expected the UCF11"):
            load_ucf11(tmp_path)
        assert issubclass(DatasetNotFoundError, FileNotFoundError)


class TestFolds:
    @pytest.fixture
    def ucf11(self, av, tmp_path):
        write_ucf11_like(
            tmp_path,
            num_classes=3,
            groups_per_class=5,
            clips_per_group=2,
            **TINY_CLIPS,
        )
        return load_ucf11(tmp_path)

    def test_folds_are_disjoint_grouped_and_balanced(self, ucf11):
        folds = ucf11.folds(5, seed=3)
        assert len(folds) == 5
        tests = np.concatenate([test for _, test in folds])
        np.testing.assert_array_equal(np.sort(tests), np.arange(len(ucf11)))
        for train, test in folds:
            assert not set(train) & set(test)
            assert len(train) + len(test) == len(ucf11)
            assert not set(ucf11.groups[train]) & set(ucf11.groups[test])
            # One group (2 clips) of each of the 3 classes per fold.
            np.testing.assert_array_equal(
                np.bincount(ucf11.labels[test], minlength=3), [2, 2, 2]
            )

    def test_seed_changes_folds(self, ucf11):
        first = [test.tolist() for _, test in ucf11.folds(5, seed=0)]
        again = [test.tolist() for _, test in ucf11.folds(5, seed=0)]
        other = [test.tolist() for _, test in ucf11.folds(5, seed=1)]
        assert first == again
        assert first != other

    def test_ungrouped_folds_split_groups(self, ucf11):
        folds = ucf11.folds(5, grouped=False, seed=0)
        split = any(
            set(ucf11.groups[train]) & set(ucf11.groups[test])
            for train, test in folds
        )
        assert split

    def test_too_many_folds(self, ucf11):
        with pytest.raises(ValueError, match="number of groups"):
            ucf11.folds(16)
        with pytest.raises(ValueError, match="Argument `k`"):
            ucf11.folds(1)

    def test_subset(self, ucf11):
        part = ucf11.subset([3, 0])
        assert part.clips == (ucf11.clips[3], ucf11.clips[0])
        np.testing.assert_array_equal(part.groups, ucf11.groups[[3, 0]])
        assert part.class_names == ucf11.class_names
        assert repr(part) == (
            "VideoDataset(name='ucf11', clips=2, classes=3, grouped=True, "
            "splits=[])"
        )

    def test_no_official_split(self, ucf11):
        with pytest.raises(ValueError, match="no official split"):
            ucf11.split()


class TestHollywood2:
    def test_synthetic_layout(self, av, tmp_path):
        targets = write_hollywood2_like(
            tmp_path,
            num_train=5,
            num_test=4,
            second_label_rate=0.5,
            seed=1,
            **TINY_CLIPS,
        )
        data = load_hollywood2(tmp_path)
        assert data.class_names == layouts.HOLLYWOOD2_ACTIONS
        assert data.multi_label and data.labels.shape == (9, 12)
        names = [os.path.basename(c) for c in data.clips]
        assert names[:2] == [
            "actioncliptrain00001.avi",
            "actioncliptrain00002.avi",
        ]
        np.testing.assert_array_equal(data.labels, targets)
        train, test = data.split("official")
        np.testing.assert_array_equal(train, np.arange(5))
        np.testing.assert_array_equal(test, np.arange(5, 9))

    def test_handwritten_clipsets_and_missing_clip(self, av, tmp_path):
        root = tmp_path / "Hollywood2"
        for name in ("actioncliptrain00001", "actioncliptest00001"):
            touch_clip(root / "AVIClips" / f"{name}.avi")
        (root / "ClipSets").mkdir()
        for action in ("Kiss", "Run"):
            for subset in ("train", "test"):
                lines = [
                    f"actionclip{subset}00001  {1 if action == 'Run' else -1}",
                    f"actionclip{subset}00002  {1 if action == 'Kiss' else -1}",
                ]
                (root / "ClipSets" / f"{action}_{subset}.txt").write_text(
                    "\n".join(lines) + "\n"
                )
        with pytest.warns(SkippedClipWarning, match="2 listed clip"):
            data = load_hollywood2(tmp_path, actions=("Kiss", "Run"))
        assert [os.path.basename(c) for c in data.clips] == [
            "actioncliptrain00001.avi",
            "actioncliptest00001.avi",
        ]
        np.testing.assert_array_equal(data.labels, [[0, 1], [0, 1]])
        np.testing.assert_array_equal(data.splits["official"], [1, 2])

    def test_missing_clipset_file(self, av, tmp_path):
        touch_clip(tmp_path / "AVIClips" / "actioncliptrain00001.avi")
        (tmp_path / "ClipSets").mkdir()
        with pytest.raises(DatasetNotFoundError, match="AnswerPhone_train"):
            load_hollywood2(tmp_path)

    def test_missing_directories(self, tmp_path):
        with pytest.raises(
            DatasetNotFoundError, match="Expected the Hollywood2"
        ):
            load_hollywood2(tmp_path)

    def test_malformed_line(self, tmp_path):
        (tmp_path / "AVIClips").mkdir()
        (tmp_path / "ClipSets").mkdir()
        (tmp_path / "ClipSets" / "Kiss_train.txt").write_text("clip yes\n")
        with pytest.raises(ValueError, match="expected '<name> <integer>'"):
            load_hollywood2(tmp_path, actions=("Kiss",))


class TestHMDB51:
    def test_synthetic_layout(self, av, tmp_path):
        roles = write_hmdb51_like(
            tmp_path, num_classes=3, clips_per_class=10, **TINY_CLIPS
        )
        data = load_hmdb51(tmp_path)
        assert data.class_names == ("brush_hair", "cartwheel", "catch")
        assert len(data) == 30 and sorted(data.splits) == [1, 2, 3]
        for number in (1, 2, 3):
            for clip, role in zip(data.clips, data.splits[number]):
                key = "/".join(clip.split(os.sep)[-2:])
                assert roles[number][key] == role
            train, test = data.split(number)
            assert len(train) == 18 and len(test) == 9
            assert not set(train) & set(test)
        for clip, label in zip(data.clips, data.labels):
            assert (
                os.path.basename(os.path.dirname(clip))
                == (data.class_names[label])
            )

    def test_handwritten_splits(self, av, tmp_path):
        videos, splits = tmp_path / "videos", tmp_path / "splits"
        for name in ("a_0.avi", "b_0.avi", "c_0.avi"):
            touch_clip(videos / "ride_bike" / name)
        splits.mkdir()
        (splits / "ride_bike_test_split1.txt").write_text(
            "a_0.avi 1 \nb_0.avi 2 \nc_0.avi 0 \nmissing.avi 1 \n"
        )
        (splits / "ride_bike_test_split2.txt").write_text("c_0.avi 1 \n")
        with pytest.warns(SkippedClipWarning, match="ride_bike/missing.avi"):
            data = load_hmdb51(videos, splits_dir=splits)
        assert data.class_names == ("ride_bike",)
        np.testing.assert_array_equal(data.splits[1], [1, 2, 0])
        np.testing.assert_array_equal(data.splits[2], [0, 0, 1])
        with pytest.raises(ValueError, match="must be one of"):
            data.split(3)

    def test_no_split_files(self, av, tmp_path):
        touch_clip(tmp_path / "run" / "a.avi")
        with pytest.raises(DatasetNotFoundError, match="_test_split1"):
            load_hmdb51(tmp_path)


class TestYouTubeCelebrities:
    @pytest.mark.parametrize(
        "path, person, ids",
        [
            (
                "x/0001_01_005_alanis_morissette.avi",
                "alanis_morissette",
                ["0001", "01", "005"],
            ),
            ("x/0012_03_001_Al_Gore.avi", "al_gore", ["0012", "03", "001"]),
            ("x/7_john-smith jr.mp4", "john_smith_jr", ["7"]),
            ("root/Bill Gates/0003.avi", "bill_gates", ["0003"]),
        ],
    )
    def test_parse_name(self, path, person, ids):
        assert parse_celebrity_name(path, "root") == (person, ids)

    def test_no_name_in_root_folder(self):
        assert parse_celebrity_name("root/0003.avi", "root") == (None, ["0003"])

    def test_synthetic_layout(self, av, tmp_path):
        written = write_youtube_celebrities_like(
            tmp_path,
            num_people=3,
            videos_per_person=2,
            clips_per_video=2,
            **TINY_CLIPS,
        )
        touch_clip(tmp_path / "0099.avi")
        with pytest.warns(SkippedClipWarning, match="no person name"):
            data = load_youtube_celebrities(tmp_path)
        assert sorted(data.clips) == sorted(str(p) for p in written)
        assert data.class_names == (
            "ada_lovelace",
            "alan_turing",
            "grace_hopper",
        )
        np.testing.assert_array_equal(np.bincount(data.labels), [4, 4, 4])
        assert data.groups[0] == "ada_lovelace/0001_01"
        assert len(set(data.groups)) == 6
        for _, test in data.folds(3):
            # Whole source videos (2 clips each) go to one fold.
            assert len(test) % 2 == 0

    def test_empty_directory(self, tmp_path):
        with pytest.raises(DatasetNotFoundError, match="Celebrities"):
            load_youtube_celebrities(tmp_path)
