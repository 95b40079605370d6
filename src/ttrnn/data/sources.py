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
# path in the cache (<group>/<name>/<file>), size and SHA256 (the same
# bytes as Datasets/NIPS2003/ and Datasets/GenExpress/ at the commit).
_PINNED = """
nips2003/arcene/arcene.param.gz 211
177f10bf26d5ed3e56e7fea5ccd4f6c27d8e97d62b6f8bacc692bc442cfd47f1
nips2003/arcene/arcene_train.data.gz 942050
5d2a84fff23960e857accc565c0fb5ae2c715d2f7c79394a5195969f009d6c56
nips2003/arcene/arcene_train.labels.gz 78
2d093dab4ca151a85a90111f25ea2bc0aa37f51489011f58365ccd1e77c026ff
nips2003/arcene/arcene_valid.data.gz 947977
44c4390c191f986ba189434f1f13741379412b857f01773d069b6cb64d249a16
nips2003/arcene/arcene_valid.labels.gz 81
2fd496a4ad30c9e048e9628ce09a0b2da7414ca02bb390bf56d5520343dacef1
nips2003/dexter/dexter.param.gz 213
d8528efe5ea50f3be8390ad0a17c3fd960f5bd7fde4bdac83992c22372652556
nips2003/dexter/dexter_train.data.gz 104923
924b133cd50daa5cf0152131f7b9e6c0bcc191ce2494ceffe6135d226af2fe4d
nips2003/dexter/dexter_train.labels.gz 134
45b101aa0fa26a2eb02b76221ee420962ceb22cae77b807e75fd13384ca6968a
nips2003/dexter/dexter_valid.data.gz 104076
5c094f74df571f32e92136c37fabcf9c5c2ab0e7ee2917473c57a65facf8f587
nips2003/dexter/dexter_valid.labels.gz 134
45792a82624a928dce51ed4163417ec129f662e47947a981a6efca33b9c2bb61
nips2003/dorothea/dorothea.param.gz 217
f4936aaa2dd7686db81626b61e08f8e1bd9faeaad8c01f1f94006602c7792028
nips2003/dorothea/dorothea_train.data.gz 1902968
e1e4806763b6fbe2d2d26e5f6304b566ea2941e908fadfc25dff2d92552b0264
nips2003/dorothea/dorothea_train.labels.gz 147
070e9c25b5802aafcd86c5b2f69a8d3435553dd1e8a31aa99549de360d116423
nips2003/dorothea/dorothea_valid.data.gz 831416
01b21a1026aaeef711b517ca5f503cccd83df4e6c3861a6b30bd9e4372881bba
nips2003/dorothea/dorothea_valid.labels.gz 97
bb58f18bc3667bbf1a4bed87ecac35f5470cfc331ee927255636c911f72ce374
nips2003/gisette/gisette.param.gz 213
0b6adb6cc4c4587cdc7a1a78eff27529ac628bcc57ec44246d758b4ed6269cfa
nips2003/gisette/gisette_train.labels.gz 1262
d88dccaad24b8fdf3ec59302f52a2304c046bcefec6c07e9b1dd7320590e7be3
nips2003/gisette/gisette_valid.data.gz 1659163
3a97909da2e6e75b6034c33f0a804ed3e530540309f8eef52c09d4bb6adfbaa1
nips2003/gisette/gisette_valid.labels.gz 284
6d98c44ed5d74cde78da7411b01e7e6fe468ac44c5f29341b9a79b482cfb5949
nips2003/madelon/madelon_train.data.gz 1242313
de3a893a69edf7d1b9034473e07467bd6806ae45a14948679371913b2029e0be
nips2003/madelon/madelon_train.labels.gz 484
15d9bcd5dbfe7c5702d3186dc5811370434cc44b5d346e8ceb713739168942b7
nips2003/madelon/madelon_valid.data.gz 372826
7458685dfb63f657e11a4d598ac3821ae8208df4d86439027baac94719657562
nips2003/madelon/madelon_valid.labels.gz 198
adda92dcc273e7124cccf7e4cf50b4fd271e02c0cdfb14eec10aa96a768443cc
spls/lymphoma/lymphoma_train.data.gz 672865
5c1c24efa99aabb6fd105d633f0410f377e61af58108cbf5546341d2df0dff7a
spls/lymphoma/lymphoma_train.labels.gz 73
f394fc937997dc191ab29d8893e841dfcc56e68542c7775e98b2eaf4dec68bb1
spls/lymphoma/lymphoma_valid.data.gz 164675
8d9593aaae236d7133d9dfe3602f6b0043ec19a7b8c789b4a37bff01ab46e40c
spls/lymphoma/lymphoma_valid.labels.gz 51
ce94506c20250f770969ce8f244f4444a838b61c184506d57f0965151d8ad7b1
spls/mice/mice_train.data.gz 1645
c18821f6d1b9253043e61b379cc7e34a7144c763c49aeaa258bd691ff567a6f1
spls/mice/mice_train.labels.gz 7729
1aadfc23ddbc9e452f8be4f6c839f5306f53c355155fcc2b52cb50c96fe3be39
spls/mice/mice_valid.data.gz 378
9274d8a160d9495d42c591aaef5190d1311a0786dd21db042d1ca7f6179ac237
spls/mice/mice_valid.labels.gz 1686
36213078260867ea51e307db0366d1b80c24f1704fe585adf98745da037a7897
spls/prostate/prostate_train.data.gz 1138519
350b3c32da0f20a00dcaf703b0d55e463e059e5edfd2f72b0860aeb5b1dfcd22
spls/prostate/prostate_train.labels.gz 73
9354a77cf2ba583bcc692fd3f1977a4a98c7ef97a51e98f8fd4bf000c243bc55
spls/prostate/prostate_valid.data.gz 306479
0de71727cf196fcb27813425b967e85125a3048ac3a4501b2f3e3a1bdc2148ed
spls/prostate/prostate_valid.labels.gz 49
fbd43db8d9c3b18e7a38b40ef3f11db57573cb8e1f5e5cd5258f54ac68b73fb6
spls/yeast/yeast_train.data.gz 358676
549ee848358b88e10e7f42b04bf4436ab47dd6cda3b465bcd42b318430966873
spls/yeast/yeast_train.labels.gz 11077
302472b2fb787eac5b1c355a24e92b7aadbfc56bba3f39360637b45eee3f09ae
spls/yeast/yeast_valid.data.gz 126607
730d22e253ae24545bd7de4675090ec67b1ad9f29bfa5fbea51305185b823fa0
spls/yeast/yeast_valid.labels.gz 4035
02677c063a490c045ad11d2ef28ffae67ad8332bcd0aac164652adfc4a9120b6
"""
_REPO_FOLDER = {"nips2003": "NIPS2003", "spls": "GenExpress"}


def _pinned(group, name):
    fields = _PINNED.split()
    files = []
    for path, size, digest in zip(fields[::3], fields[1::3], fields[2::3]):
        file_group, file_name, file = path.split("/")
        if (file_group, file_name) == (group, name):
            url = f"{_TT_RNN}/{_REPO_FOLDER[group]}/{name}/{file}"
            files.append(DataFile(file, url, f"sha256:{digest}", int(size)))
    return tuple(files)


def _pinned_names(group):
    paths = _PINNED.split()[::3]
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
