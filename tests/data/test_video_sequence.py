"""Tests of the VideoSequence PyDataset."""

import os

import keras
import numpy as np
import pytest

from tests.data.data_helpers import ramp_clip
from ttrnn.data.cache import FrameCache
from ttrnn.data.clips import VideoDataset
from ttrnn.data.sequence import VideoSequence
from ttrnn.data.video import write_video

SHAPE = (4, 6)
FEATURES = SHAPE[0] * SHAPE[1] * 3
LENGTHS = (3, 7, 5, 2, 6)


@pytest.fixture
def dataset(av, tmp_path):
    """Clips whose frame i is grey 10 + 20 i + clip index."""
    clips = []
    for i, length in enumerate(LENGTHS):
        path = os.path.join(tmp_path, f"clip{i}.avi")
        write_video(path, ramp_clip(length, start=10 + i))
        clips.append(path)
    return VideoDataset(
        name="ramps",
        clips=tuple(clips),
        labels=np.array([0, 1, 0, 1, 1], np.int32),
        class_names=("a", "b"),
    )


@pytest.fixture
def cache(tmp_path):
    return FrameCache(tmp_path / "cache", frame_shape=SHAPE)


def grey(clip_index, frame_index):
    """The expected centred value of a frame."""
    return 10.0 + clip_index + 20.0 * np.asarray(frame_index) - 128.0


class TestSampledFrames:
    def test_shapes_and_values(self, dataset, cache):
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=2,
            num_frames=4,
            shuffle=False,
            verbose=0,
        )
        assert len(seq) == 3
        x, y = seq[0]
        assert x.shape == (2, 4, FEATURES) and x.dtype == np.float32
        assert y.dtype == np.int32
        np.testing.assert_array_equal(y, [0, 1])
        # Clip 1 has 7 frames: 4 evenly spaced ones are 0, 2, 4, 6.
        np.testing.assert_array_equal(x[1, :, 0], grey(1, [0, 2, 4, 6]))
        assert (x[1] == x[1, :, :1]).all()
        # Clip 0 has 3 frames: positions 0, 0.67, 1.33, 2 round to 0 1 1 2.
        np.testing.assert_array_equal(x[0, :, 0], grey(0, [0, 1, 1, 2]))
        x, y = seq[2]
        assert x.shape == (1, 4, FEATURES)

    def test_unflattened_and_scaled(self, dataset, cache):
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=5,
            num_frames=2,
            flatten=False,
            center=0.0,
            scale=1 / 255,
            shuffle=False,
            verbose=0,
        )
        x, _ = seq[0]
        assert x.shape == (5, 2, *SHAPE, 3)
        np.testing.assert_allclose(x[3, :, 0, 0, 0], [13 / 255, 33 / 255])


class TestAllFrames:
    def test_pre_padding_to_batch_maximum(self, dataset, cache):
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=3,
            num_frames=None,
            shuffle=False,
            return_mask=True,
            verbose=0,
        )
        (x, mask), y = seq[0]
        assert x.shape == (3, 7, FEATURES) and mask.dtype == bool
        np.testing.assert_array_equal(mask.sum(axis=1), [3, 7, 5])
        for row, length in enumerate((3, 7, 5)):
            assert (x[row, : 7 - length] == 0).all()
            assert not mask[row, : 7 - length].any()
            np.testing.assert_array_equal(
                x[row, 7 - length :, 0], grey(row, np.arange(length))
            )
        (x, mask), _ = seq[1]
        assert x.shape == (2, 6, FEATURES)

    def test_fixed_length_truncates_and_pads(self, dataset, cache):
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=5,
            num_frames=None,
            max_length=4,
            shuffle=False,
            verbose=0,
        )
        x, _ = seq[0]
        assert x.shape == (5, 4, FEATURES)
        np.testing.assert_array_equal(x[1, :, 0], grey(1, [0, 1, 2, 3]))
        np.testing.assert_array_equal(x[3, :, 0], [0, 0, *grey(3, [0, 1])])

    def test_every_and_max_frames(self, dataset, cache):
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=5,
            num_frames=None,
            every=2,
            max_frames=3,
            shuffle=False,
            verbose=0,
        )
        x, _ = seq[0]
        assert x.shape == (5, 3, FEATURES)
        np.testing.assert_array_equal(x[1, :, 0], grey(1, [0, 2, 4]))
        # Clip 3 has 2 frames: every=2 keeps one, pre-padded to 3.
        np.testing.assert_array_equal(x[3, :, 0], [0, 0, grey(3, 0)])

    def test_keras_masking_sees_padding(self, dataset, cache):
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=5,
            num_frames=None,
            shuffle=False,
            verbose=0,
        )
        x, _ = seq[0]
        mask = keras.layers.Masking(0.0).compute_mask(x)
        expected = np.arange(7)[None, :] >= 7 - np.array(LENGTHS)[:, None]
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(mask), expected
        )


class TestUint8AndBuckets:
    def test_uint8_frames_are_the_raw_pixels(self, dataset, cache):
        args = dict(batch_size=5, num_frames=None, shuffle=False, verbose=0)
        raw = VideoSequence(dataset, cache, dtype="uint8", **args)
        ref = VideoSequence(dataset, cache, **args)
        x8, _ = raw[0]
        xf, _ = ref[0]
        assert x8.dtype == np.uint8
        # Under JAX the batch is already a jax.Array (no device_put copy).
        assert isinstance(x8, np.ndarray) == (keras.backend.backend() != "jax")
        x8 = np.asarray(x8)
        real = xf != 0
        np.testing.assert_array_equal(
            x8[real].astype("float32") - 128, xf[real]
        )
        assert (x8[~real] == 0).all()

    def test_bucketed_batches(self, dataset, cache):
        # Lengths 3, 7, 5, 2, 6; buckets (3, 7): two batches of 3 rows.
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=3,
            num_frames=None,
            buckets=[3, 7],
            dtype="uint8",
            return_mask=True,
            shuffle=False,
            verbose=0,
        )
        assert seq.buckets == (3, 7) and len(seq) == 2
        seen = []
        for index in range(len(seq)):
            (x, mask), y, weights = seq[index]
            members = seq.members(index)
            assert x.shape[:2] == mask.shape and x.shape[0] == 3
            assert x.shape[1] in (3, 7)
            for row, member in enumerate(members):
                if member < 0:
                    assert weights[row] == 0 and not mask[row].any()
                    assert y[row] == 0 and (x[row] == 0).all()
                    continue
                seen.append(member)
                assert weights[row] == 1
                length = LENGTHS[member]
                assert mask[row].sum() == length
                assert mask[row, -length:].all()  # pre-padding
                np.testing.assert_array_equal(
                    x[row, -length:, 0].astype(float) - 128,
                    grey(member, np.arange(length)),
                )
                assert y[row] == dataset.labels[member]
        assert sorted(seen) == list(range(5))
        # (7 + 7 + 7) + (3 + 3 + 3) frames for 23 real ones.
        assert seq.padding_overhead == pytest.approx(30 / 23)

    def test_number_of_buckets_and_reshuffling(self, dataset, cache):
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=2,
            num_frames=None,
            buckets=2,
            seed=3,
            verbose=0,
        )
        assert len(seq.buckets) == 2 and seq.buckets[-1] == 7
        orders = []
        for _ in range(6):
            orders.append(
                tuple(np.concatenate([seq.members(i) for i in range(3)]))
            )
            seq.on_epoch_end()
        assert len(set(orders)) > 1
        for order in orders:
            assert sorted(m for m in order if m >= 0) == list(range(5))

    @pytest.mark.parametrize("buckets", [None, 2])
    def test_prefetch_gives_the_same_batches(self, dataset, cache, buckets):
        args = dict(
            batch_size=2,
            num_frames=None,
            buckets=buckets,
            seed=1,
            verbose=0,
        )
        ahead = VideoSequence(dataset, cache, prefetch=True, **args)
        plain = VideoSequence(dataset, cache, prefetch=False, **args)
        for _ in range(2):
            # In order (the look-ahead is used), then out of order.
            for index in [0, 1, 2, 1, 0]:
                for a, b in zip(ahead[index], plain[index]):
                    np.testing.assert_array_equal(a, b)
            ahead.on_epoch_end()
            plain.on_epoch_end()

    def test_frame_budget_shrinks_long_batches(self, dataset, cache):
        # Lengths 3, 7, 5, 2, 6; buckets (3, 7), at most 8 frames a batch:
        # bucket 3 keeps 2 rows, bucket 7 gets 1.
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=2,
            num_frames=None,
            buckets=[3, 7],
            max_batch_frames=8,
            seed=0,
            verbose=0,
        )
        shapes = set()
        for index in range(len(seq)):
            x, y, weights = seq[index]
            shapes.add(x.shape[:2])
            assert x.shape[0] == len(y) == len(weights)
        assert shapes == {(2, 3), (1, 7)}
        members = np.concatenate([seq.members(i) for i in range(len(seq))])
        assert sorted(members[members >= 0]) == list(range(5))
        # 7 + 7 + 7 + (3 + 3): 3 batches of one long clip, one of two.
        assert len(seq) == 4 and seq.padding_overhead == pytest.approx(27 / 23)

    @pytest.mark.parametrize("shuffle", [False, True])
    @pytest.mark.parametrize("seed", range(3))
    def test_fit_on_batches_of_varying_shapes(
        self, dataset, cache, seed, shuffle
    ):
        """Keras infers a tf.data spec from the first two batches only:
        the plan leads with a longest and a shortest batch, so sizes that
        vary are left unknown (a fixed size would fail later batches)."""
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=2,
            num_frames=None,
            buckets=[2, 3, 5, 7],
            max_batch_frames=7,
            seed=seed,
            shuffle=shuffle,
            verbose=0,
        )
        model = keras.Sequential(
            [
                keras.Input((None, FEATURES)),
                keras.layers.GlobalAveragePooling1D(),
                keras.layers.Dense(2),
            ]
        )
        model.compile(
            "sgd",
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        history = model.fit(seq, epochs=2, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        assert model.predict(seq, verbose=0).shape == (
            sum(len(seq.members(i)) for i in range(len(seq))),
            2,
        )

    def test_invalid_arguments(self, dataset, cache):
        with pytest.raises(ValueError, match="max_batch_frames"):
            VideoSequence(
                dataset, cache, num_frames=None, max_batch_frames=8, verbose=0
            )
        with pytest.raises(ValueError, match="max_batch_frames"):
            VideoSequence(
                dataset,
                cache,
                num_frames=None,
                buckets=2,
                max_batch_frames=0,
                verbose=0,
            )
        with pytest.raises(ValueError, match="dtype"):
            VideoSequence(dataset, cache, dtype="float16", verbose=0)
        with pytest.raises(ValueError, match="only with num_frames=None"):
            VideoSequence(dataset, cache, num_frames=4, buckets=2, verbose=0)
        with pytest.raises(ValueError, match="longest clip"):
            VideoSequence(
                dataset, cache, num_frames=None, buckets=[3, 6], verbose=0
            )


class TestShufflingAndLabels:
    def test_each_epoch_is_a_new_permutation(self, dataset, cache):
        seq = VideoSequence(
            dataset, cache, batch_size=2, num_frames=2, seed=0, verbose=0
        )

        def epoch():
            firsts = [seq[i][0][:, 0, 0] for i in range(len(seq))]
            seq.on_epoch_end()
            return np.concatenate(firsts)

        epochs = [epoch() for _ in range(4)]
        expected = np.sort(grey(np.arange(5), 0))
        for order in epochs:
            np.testing.assert_array_equal(np.sort(order), expected)
        assert len({tuple(order) for order in epochs}) > 1

    @pytest.mark.parametrize("buckets", [None, 2])
    def test_set_epoch_replays_an_epoch(self, dataset, cache, buckets):
        # What a resumed run (or a second fit) relies on: epoch e's order
        # depends on (seed, e) alone, not on the epochs run before.
        args = dict(batch_size=2, num_frames=None, buckets=buckets, verbose=0)
        ran = VideoSequence(dataset, cache, seed=5, **args)
        orders = []
        for _ in range(4):
            orders.append([tuple(ran.members(i)) for i in range(len(ran))])
            ran.on_epoch_end()
        assert len({tuple(o) for o in orders}) > 1
        fresh = VideoSequence(dataset, cache, seed=5, **args)
        for epoch in (3, 1, 0, 2):
            fresh.set_epoch(epoch)
            assert [
                tuple(fresh.members(i)) for i in range(len(fresh))
            ] == orders[epoch]
        other = VideoSequence(dataset, cache, seed=6, **args)
        others = []
        for epoch in range(4):
            other.set_epoch(epoch)
            others.append([tuple(other.members(i)) for i in range(3)])
        assert others != orders
        with pytest.raises(ValueError, match="epoch"):
            fresh.set_epoch(-1)

    def test_multi_label_targets(self, dataset, cache):
        multi = VideoDataset(
            name="multi",
            clips=dataset.clips,
            labels=np.eye(5, 3, dtype=np.uint8),
            class_names=("a", "b", "c"),
        )
        seq = VideoSequence(
            multi, cache, batch_size=5, num_frames=2, shuffle=False, verbose=0
        )
        _, y = seq[0]
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, np.eye(5, 3))

    def test_fit_on_the_sequence(self, dataset, cache):
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        seq = VideoSequence(
            dataset,
            cache,
            batch_size=5,
            num_frames=None,
            max_length=8,  # one input shape: a single compilation
            scale=1 / 128,
            seed=0,
            verbose=0,
        )
        model = keras.Sequential(
            [
                keras.Input((None, FEATURES)),
                keras.layers.Masking(0.0),
                keras.layers.GlobalAveragePooling1D(),
                keras.layers.Dense(2, activation="softmax"),
            ]
        )
        model.compile("sgd", "sparse_categorical_crossentropy")
        history = model.fit(seq, epochs=2, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        keras.backend.clear_session()


class TestErrors:
    def test_frame_options_need_all_frames(self, dataset, cache):
        with pytest.raises(ValueError, match="only with num_frames=None"):
            VideoSequence(dataset, cache, num_frames=8, max_length=10)

    def test_invalid_batch_size(self, dataset, cache):
        with pytest.raises(ValueError, match="batch_size"):
            VideoSequence(dataset, cache, batch_size=0)

    def test_index_out_of_range(self, dataset, cache):
        seq = VideoSequence(dataset, cache, batch_size=5, verbose=0)
        with pytest.raises(IndexError, match="out of range"):
            seq[1]

    def test_no_readable_clip(self, tmp_path, cache):
        path = tmp_path / "junk.avi"
        path.write_bytes(b"junk")
        junk = VideoDataset("junk", (str(path),), np.zeros(1, np.int32), ("a",))
        with (
            pytest.warns(UserWarning),
            pytest.raises(ValueError, match="No readable"),
        ):
            VideoSequence(junk, cache, verbose=0)
