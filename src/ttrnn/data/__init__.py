"""Data for ttrnn: the video datasets of TT-RNN and the feed-forward sets.

Video (reading and writing files needs `pip install ttrnn[video]`):

- `load_ucf11`, `load_hollywood2`, `load_hmdb51`, `load_youtube_celebrities`
  list the clips of each dataset's real on-disk layout as a `VideoDataset`
  (labels, groups, official splits, `folds(k)` cross-validation).
- `FrameCache` decodes each clip once into memory-mapped uint8 files and
  `VideoSequence` (a `keras.utils.PyDataset`) streams batches from it.
- `make_motion_videos` and the `write_*_like` writers make synthetic data
  of the same shapes and layouts; `read_video` and `write_video` do the I/O.

Feed-forward: `load_fashion_mnist` and `read_idx` (MNIST format),
`load_cifar10` (python pickles), `load_nips2003` and `load_spls` (the
challenge files), `load_reuters` and `bag_of_words` (Keras' reuters.npz),
and the helpers `pad_features`, `pad_images`,
`minmax_scale` and `MinMaxScaler`.

Fetching (`ttrnn data` on the command line): `fetch(name)` downloads a
data set of the experiments into the cache on first use (hashes checked,
`$TTRNN_DATA_MIRROR`, `$TTRNN_OFFLINE`) and returns its folder;
`data_path`, `data_cache_dir` and `list_datasets` say where and what.
`FrameCache` and `VideoSequence` load on first use (they import Keras;
the rest of `ttrnn.data` does not).
"""

import importlib

from ttrnn.data.buckets import bucket_lengths
from ttrnn.data.buckets import bucket_rows
from ttrnn.data.buckets import plan_batches
from ttrnn.data.cifar import CIFAR10_CLASSES
from ttrnn.data.cifar import load_cifar10
from ttrnn.data.cifar import read_cifar_batch
from ttrnn.data.clips import DatasetNotFoundError
from ttrnn.data.clips import SkippedClipWarning
from ttrnn.data.clips import VideoDataset
from ttrnn.data.clips import grouped_kfold
from ttrnn.data.errors import DataChecksumError
from ttrnn.data.errors import DataFetchError
from ttrnn.data.errors import DataNotDownloadableError
from ttrnn.data.errors import DataOfflineError
from ttrnn.data.fetching import data_cache_dir
from ttrnn.data.fetching import data_path
from ttrnn.data.fetching import fetch
from ttrnn.data.fetching import list_datasets
from ttrnn.data.idx import FASHION_MNIST_CLASSES
from ttrnn.data.idx import MNIST_FILE
from ttrnn.data.idx import load_fashion_mnist
from ttrnn.data.idx import load_idx_dataset
from ttrnn.data.idx import read_idx
from ttrnn.data.idx import read_mnist_npz
from ttrnn.data.idx import write_idx
from ttrnn.data.layouts import HMDB51_CLASSES
from ttrnn.data.layouts import HOLLYWOOD2_ACTIONS
from ttrnn.data.layouts import UCF11_CLASSES
from ttrnn.data.layouts import load_hmdb51
from ttrnn.data.layouts import load_hollywood2
from ttrnn.data.layouts import load_ucf11
from ttrnn.data.layouts import load_youtube_celebrities
from ttrnn.data.layouts import parse_celebrity_name
from ttrnn.data.nips2003 import NIPS2003_DATASETS
from ttrnn.data.nips2003 import load_nips2003
from ttrnn.data.nips2003 import read_nips2003_subset
from ttrnn.data.preprocessing import MinMaxScaler
from ttrnn.data.preprocessing import minmax_scale
from ttrnn.data.preprocessing import pad_features
from ttrnn.data.preprocessing import pad_images
from ttrnn.data.reuters import REUTERS_TOPICS
from ttrnn.data.reuters import bag_of_words
from ttrnn.data.reuters import load_reuters
from ttrnn.data.reuters import read_reuters_npz
from ttrnn.data.sources import DATA_SOURCES
from ttrnn.data.spls import SPLS_TASKS
from ttrnn.data.spls import load_spls
from ttrnn.data.synthetic import MOTION_CLASSES
from ttrnn.data.synthetic import make_motion_videos
from ttrnn.data.synthetic import render_motion_clip
from ttrnn.data.synthetic_layouts import write_hmdb51_like
from ttrnn.data.synthetic_layouts import write_hollywood2_like
from ttrnn.data.synthetic_layouts import write_ucf11_like
from ttrnn.data.synthetic_layouts import write_youtube_celebrities_like
from ttrnn.data.video import TruncatedVideoWarning
from ttrnn.data.video import VideoReadError
from ttrnn.data.video import read_video
from ttrnn.data.video import write_video

__all__ = [
    "bucket_lengths",
    "bucket_rows",
    "plan_batches",
    "CIFAR10_CLASSES",
    "DATA_SOURCES",
    "FASHION_MNIST_CLASSES",
    "HMDB51_CLASSES",
    "HOLLYWOOD2_ACTIONS",
    "MNIST_FILE",
    "MOTION_CLASSES",
    "NIPS2003_DATASETS",
    "REUTERS_TOPICS",
    "SPLS_TASKS",
    "UCF11_CLASSES",
    "DataChecksumError",
    "DataFetchError",
    "DataNotDownloadableError",
    "DataOfflineError",
    "DatasetNotFoundError",
    "FrameCache",
    "MinMaxScaler",
    "SkippedClipWarning",
    "TruncatedVideoWarning",
    "VideoDataset",
    "VideoReadError",
    "VideoSequence",
    "bag_of_words",
    "data_cache_dir",
    "data_path",
    "fetch",
    "list_datasets",
    "grouped_kfold",
    "load_cifar10",
    "load_fashion_mnist",
    "load_hmdb51",
    "load_hollywood2",
    "load_idx_dataset",
    "load_nips2003",
    "load_reuters",
    "load_spls",
    "load_ucf11",
    "load_youtube_celebrities",
    "make_motion_videos",
    "minmax_scale",
    "pad_features",
    "pad_images",
    "parse_celebrity_name",
    "read_cifar_batch",
    "read_idx",
    "read_mnist_npz",
    "read_nips2003_subset",
    "read_reuters_npz",
    "read_video",
    "render_motion_clip",
    "write_hmdb51_like",
    "write_hollywood2_like",
    "write_idx",
    "write_ucf11_like",
    "write_video",
    "write_youtube_celebrities_like",
]

# They import Keras: loaded on first use, so that `ttrnn data` starts
# without it.
_LAZY = {
    "FrameCache": "ttrnn.data.cache",
    "VideoSequence": "ttrnn.data.sequence",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ttrnn.data' has no attribute {name!r}")
