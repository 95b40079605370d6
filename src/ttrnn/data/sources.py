"""Where each data set of the experiments comes from: the registry.

Every `DataSource` lists its files with their URL, hash and size, the
licence or terms of use and a one-line description. `ttrnn.data.fetch`
downloads them into the cache (`<cache>/<group>/<name>/<file>`);
`ttrnn data list` prints this table. Imports neither Keras nor pooch.

Hashes: a file's `hash` is `"sha256:<hex>"` (or `"md5:<hex>"` where only
that is published). `None` means no hash can be known before the first
download (gisette's training data from UCI, the video archives): the
first download records its SHA256 in the cache's `hashes.json` and every
later download of that file must match it (trust on first use).
"""

import dataclasses
from importlib import resources

# The 2017 repository, pinned to the commit whose files
# /work/shared/data reproduces byte for byte.
_TT_RNN = (
    "https://raw.githubusercontent.com/Tuyki/TT_RNN/"
    "76d9a6c8b9b194ee1ca4f649e5ac1781e27899fb/Datasets"
)
_KERAS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets"
_UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases"


@dataclasses.dataclass(frozen=True)
class DataFile:
    """One file of a data set.

    Attributes:
        name: the file name in the cache (and on a mirror).
        url: where it is downloaded from.
        hash: `"sha256:<hex>"` or `"md5:<hex>"`; `None` when recorded at
            the first download (trust on first use).
        size: bytes, or `None` if not known here.
        unpack: `None`, `"tar"`, `"zip"` or `"rar"` (RAR archives in the
            archive are unpacked too): the archive is unpacked into the
            folder named as the file without its extension, then deleted.
    """

    name: str
    url: str
    hash: str = None
    size: int = None
    unpack: str = None

    @property
    def unpacked(self):
        """The folder an archive is unpacked into (`None` if not one)."""
        if self.unpack is None:
            return None
        for ending in (".tar.gz", ".tgz", ".tar", ".zip", ".rar"):
            if self.name.endswith(ending):
                return self.name[: -len(ending)]
        return self.name + ".d"


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A data set the experiments read.

    Attributes:
        name: the data set name (`ttrnn data get NAME`).
        group: the cache folder it lives in (`<cache>/<group>/<name>/`).
        description: one line: what it is and where it comes from.
        licence: the licence or terms of use.
        files: its `DataFile`s (empty if it cannot be downloaded).
        root: the folder below `<cache>/<group>/<name>/` the readers take.
        request: how to get it by hand, where it cannot be downloaded.
    """

    name: str
    group: str
    description: str
    licence: str
    files: tuple = ()
    root: str = "."
    request: str = None

    @property
    def size(self):
        """Total bytes, or `None` if a file's size is unknown."""
        sizes = [f.size for f in self.files]
        return None if None in sizes or not sizes else sum(sizes)


# The files of the 2017 repository the experiments read: for each, its
# SHA256, size and path in the cache (<group>/<name>/<file>) (the same
# bytes as Datasets/NIPS2003/ and Datasets/GenExpress/ at the commit).
_PINNED = tuple(
    line.split()
    for line in resources.files("ttrnn.data")
    .joinpath("pinned_files.txt")
    .read_text(encoding="utf-8")
    .splitlines()
    if line and not line.startswith("#")
)  # (sha256, size, path) each: pinned_files.txt, package data
_REPO_FOLDER = {"nips2003": "NIPS2003", "spls": "GenExpress"}


def _pinned(group, name):
    files = []
    for digest, size, path in _PINNED:
        file_group, file_name, file = path.split("/")
        if (file_group, file_name) == (group, name):
            url = f"{_TT_RNN}/{_REPO_FOLDER[group]}/{name}/{file}"
            files.append(DataFile(file, url, f"sha256:{digest}", int(size)))
    return tuple(files)


def _pinned_names(group):
    paths = [path for _, _, path in _PINNED]
    return list(
        dict.fromkeys(
            p.split("/")[1] for p in paths if p.startswith(group + "/")
        )
    )


# Where the 2017 repository lacks gisette's training features: UCI's
# challenge copy, uncompressed, hash recorded at the first download.
_GISETTE_TRAIN = DataFile(
    "gisette_train.data", f"{_UCI}/gisette/GISETTE/gisette_train.data"
)
_NIPS_LICENCE = (
    "CC BY 4.0 (UCI Machine Learning Repository); NIPS 2003 feature "
    "selection challenge, Guyon et al."
)
_SPLS_LICENCE = (
    "GPL (>= 2), as distributed in the R package spls (Chung, Chun, "
    "Keles); cite the original studies"
)
_FASHION = "https://github.com/zalandoresearch/fashion-mnist"
_VIDEO_TERMS = "research use only; cite the dataset's paper"


def _sources():
    sources = []
    for name in _pinned_names("nips2003"):
        files = _pinned("nips2003", name)
        if name == "gisette":
            files = (*files, _GISETTE_TRAIN)
        sources.append(
            DataSource(
                name,
                "nips2003",
                f"NIPS 2003 feature-selection challenge: {name} (the 2017 "
                "repository's files, commit 76d9a6c)"
                + ("; train features from UCI" if name == "gisette" else ""),
                _NIPS_LICENCE,
                files,
            )
        )
    for name in ("prostate", "lymphoma", "mice", "yeast"):
        sources.append(
            DataSource(
                name,
                "spls",
                f"spls gene expression: {name} (the 2017 repository's "
                "split of the R package's data, commit 76d9a6c)",
                _SPLS_LICENCE,
                _pinned("spls", name),
            )
        )
    sources += [
        DataSource(
            "mnist",
            "images",
            "MNIST handwritten digits, Keras' mnist.npz (60,000 + 10,000 "
            "28x28 images)",
            "CC BY-SA 3.0 (LeCun, Cortes, Burges)",
            (
                DataFile(
                    "mnist.npz",
                    f"{_KERAS}/mnist.npz",
                    "sha256:731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2c"
                    "c48468fc17b673d1",
                    11490434,
                ),
            ),
        ),
        DataSource(
            "fashion-mnist",
            "images",
            "Fashion-MNIST (Zalando), the four IDX files Keras downloads",
            f"MIT, Zalando SE ({_FASHION})",
            tuple(
                DataFile(f, f"{_KERAS}/{f}", f"md5:{md5}", size)
                for f, md5, size in (
                    (
                        "train-images-idx3-ubyte.gz",
                        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                        26421880,
                    ),
                    (
                        "train-labels-idx1-ubyte.gz",
                        "25c81989df183df01b3e8a0aad5dffbe",
                        29515,
                    ),
                    (
                        "t10k-images-idx3-ubyte.gz",
                        "bef4ecab320f06d8554ea6380940ec79",
                        4422102,
                    ),
                    (
                        "t10k-labels-idx1-ubyte.gz",
                        "bb300cfdad3c16e7a12a480ee83cd310",
                        5148,
                    ),
                )
            ),
        ),
        DataSource(
            "cifar10",
            "images",
            "CIFAR-10 python batches (Krizhevsky 2009), from "
            "www.cs.toronto.edu/~kriz, unpacked",
            "no licence published; cite Krizhevsky (2009), Learning "
            "Multiple Layers of Features from Tiny Images",
            (
                DataFile(
                    "cifar-10-python.tar.gz",
                    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                    # Keras' sha256; the site publishes the md5
                    # c58f30108f718f92721af3b95e74349a of the same file.
                    "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348"
                    "329d7fe0b5c001ce",
                    170498071,
                    unpack="tar",
                ),
            ),
            root="cifar-10-python",
        ),
        DataSource(
            "reuters",
            "text",
            "Reuters-21578 newswires as word indices, Keras' reuters.npz",
            "Reuters-21578 terms: free for research use (Reuters Ltd., "
            "Carnegie Group; distributed by D. Lewis)",
            (
                DataFile(
                    "reuters.npz",
                    f"{_KERAS}/reuters.npz",
                    "sha256:d6586e694ee56d7a4e65172e12b3e987c03096cb01eab997"
                    "53921ef915959916",
                    2110848,
                ),
            ),
        ),
        DataSource(
            "ucf11",
            "video",
            "UCF11 (UCF YouTube Action, Liu, Luo, Shah 2009), from "
            "www.crcv.ucf.edu",
            _VIDEO_TERMS,
            (
                DataFile(
                    "UCF11_updated_mpg.rar",
                    "https://www.crcv.ucf.edu/data/UCF11_updated_mpg.rar",
                    unpack="rar",
                ),
            ),
            root="UCF11_updated_mpg",
        ),
        DataSource(
            "hmdb51",
            "video",
            "HMDB51 (Kuehne et al. 2011), clips and official splits, from "
            "serre-lab.clps.brown.edu",
            "CC BY 4.0 (Serre lab, Brown University)",
            (
                DataFile(
                    "hmdb51_org.rar",
                    "http://serre-lab.clps.brown.edu/wp-content/uploads/"
                    "2013/10/hmdb51_org.rar",
                    unpack="rar",
                ),
                DataFile(
                    "test_train_splits.rar",
                    "http://serre-lab.clps.brown.edu/wp-content/uploads/"
                    "2013/10/test_train_splits.rar",
                    unpack="rar",
                ),
            ),
        ),
        DataSource(
            "hollywood2",
            "video",
            "Hollywood2 actions (Marszalek, Laptev, Schmid 2009), from "
            "ftp.irisa.fr",
            _VIDEO_TERMS + "; clips of films, copyright of their owners",
            (
                DataFile(
                    "Hollywood2-actions.tar.gz",
                    "ftp://ftp.irisa.fr/local/vistas/actions/"
                    "Hollywood2-actions.tar.gz",
                    unpack="tar",
                ),
            ),
            root="Hollywood2-actions",
        ),
        DataSource(
            "youtube-celebrities",
            "video",
            "YouTube Celebrities Face Tracking and Recognition (Kim et al. "
            "2008): on request from its authors, not downloadable",
            "on request from the authors, research use only",
            request="it is given on request by its authors (Minyoung Kim, "
            "Sanjiv Kumar, Vladimir Pavlovic, Henry Rowley: 'Face tracking "
            "and recognition with visual constraints in real-world "
            "videos', CVPR 2008); ask them for a copy, then pass its "
            "folder with --data-dir or unpack it into {path}",
        ),
    ]
    return {source.name: source for source in sources}


DATA_SOURCES = _sources()
