"""Length buckets through `Model.fit`: the graphs each backend builds.

JAX compiles one training graph per batch shape, so its compiles equal
the bucket shapes of the epoch plan; TensorFlow's graph takes batches of
unknown length (Keras infers the spec from the first two batches, which
the plan makes a longest and a shortest), so it does not retrace for a
new length; torch runs eagerly. This is what lets the paper protocol use
more buckets on TensorFlow and torch than on JAX.
"""

import keras
import numpy as np
import pytest

from ttrnn.data.cache import FrameCache
from ttrnn.data.clips import VideoDataset
from ttrnn.data.sequence import VideoSequence

SHAPE = (2, 2)
FEATURES = SHAPE[0] * SHAPE[1] * 3


@pytest.fixture
def generated(tmp_path):
    """40 clips of 1..30 frames, frames stored straight into the cache."""
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 31, 40)
    cache = FrameCache(tmp_path / "cache", frame_shape=SHAPE)
    clips = []
    for index, length in enumerate(lengths):
        path = tmp_path / f"clip{index}.avi"
        path.write_bytes(b"frames are in the cache")
        frames = rng.integers(0, 256, (length, *SHAPE, 3), dtype=np.uint8)
        cache.store(str(path), frames)
        clips.append(str(path))
    dataset = VideoDataset(
        name="generated",
        clips=tuple(clips),
        labels=(np.arange(len(clips)) % 2).astype(np.int32),
        class_names=("a", "b"),
    )
    return dataset, cache, lengths


def _sequence(generated, buckets, seed):
    """Batches of at most 4 clips and 60 padded frames."""
    dataset, cache, _ = generated
    return VideoSequence(
        dataset,
        cache,
        batch_size=4,
        num_frames=None,
        buckets=buckets,
        max_batch_frames=60,
        seed=seed,
        verbose=0,
        prefetch=False,
    )


def _traced_fit(monkeypatch, sequence, epochs=2):
    """Fits a small model; returns the calls of `Model.train_step` (under
    jax.jit and tf.function, one per trace)."""
    calls = []
    train_step = keras.Model.train_step

    def counted(self, *args, **kwargs):
        calls.append(1)
        return train_step(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "train_step", counted)
    model = keras.Sequential(
        [
            keras.Input((None, FEATURES)),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        "sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    history = model.fit(sequence, epochs=epochs, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    return len(calls)


@pytest.mark.parametrize("buckets", [3, 9])
def test_graphs_per_backend(generated, monkeypatch, buckets):
    sequence = _sequence(generated, buckets, seed=1)
    assert len(sequence.buckets) <= buckets
    shapes = set()
    for epoch in range(2):
        sequence.set_epoch(epoch)
        for index in range(len(sequence)):
            shapes.add(sequence[index][0].shape[:2])
    sequence.set_epoch(0)
    assert {steps for _, steps in shapes} <= set(sequence.buckets)
    assert len(shapes) > 2
    traces = _traced_fit(monkeypatch, sequence)
    backend = keras.backend.backend()
    if backend == "jax":  # one graph per batch shape, none per epoch
        assert traces == len(shapes)
    elif backend == "tensorflow":  # any length, any rows: no retrace
        assert traces <= 2
    else:  # eager: one call a step
        assert traces == 2 * len(sequence)


def test_padding_overhead_is_the_batch_shapes(generated):
    """`padding_overhead` (what results.json records) is the frames the
    batches hold over the clips' frames, and falls with more buckets."""
    lengths = generated[2]
    overheads = []
    for buckets in (1, 3, 9):
        sequence = _sequence(generated, buckets, seed=2)
        computed = sum(
            int(np.prod(sequence[i][0].shape[:2])) for i in range(len(sequence))
        )
        assert sequence.padding_overhead == pytest.approx(
            computed / lengths.sum()
        )
        overheads.append(sequence.padding_overhead)
    assert overheads == sorted(overheads, reverse=True)
    assert overheads[-1] < overheads[0]
