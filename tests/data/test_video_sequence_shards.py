"""VideoSequence's shards: each process's rows of every batch
(`shard=`), batches padded to a multiple of the devices."""

import numpy as np
import pytest

from tests.data.test_video_sequence import cache  # noqa: F401  (fixtures)
from tests.data.test_video_sequence import dataset  # noqa: F401
from ttrnn.data.sequence import VideoSequence


@pytest.mark.parametrize("num_frames", [2, None])
def test_shards_make_up_the_whole_batch(dataset, cache, num_frames):  # noqa: F811
    """Two processes' rows of a batch, stacked, are the batch padded to a
    multiple of 4 devices with weight-0 rows, at the whole batch's
    length."""
    args = dict(batch_size=3, num_frames=num_frames, shuffle=True, seed=5)
    args.update(verbose=0, prefetch=False)
    whole = VideoSequence(dataset, cache, batch_multiple=4, **args)
    parts = [
        VideoSequence(dataset, cache, shard=(i, 2), batch_multiple=4, **args)
        for i in range(2)
    ]
    assert len(whole) == len(parts[0]) == 2  # 3 + 2 clips, padded to 4
    real = 0
    for index in range(len(whole)):
        x, y, w = whole[index]
        assert len(x) == 4
        real += int(w.sum())
        pieces = [part[index] for part in parts]
        for k, full in enumerate((x, y, w)):
            np.testing.assert_array_equal(
                np.concatenate([p[k] for p in pieces]), full
            )
    assert real == 5


def test_shard_arguments_are_checked(dataset, cache):  # noqa: F811
    with pytest.raises(ValueError, match="`shard` must be a pair"):
        VideoSequence(dataset, cache, shard=(2, 2), verbose=0)
    with pytest.raises(ValueError, match="multiple of count"):
        VideoSequence(dataset, cache, shard=(0, 2), batch_multiple=3)
