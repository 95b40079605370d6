"""Small files in the real NIPS 2003, spls and IDX (MNIST) formats (no
ttrnn inside).

The layout, `.param` table, gzip, separators and trailing spaces are
those of the challenge's and the spls package's own files, so the
readers and the experiments run on them as on the real sets.
"""

import gzip

import numpy as np

PARAM = """Data type: {kind}
Number of features: {features}
Number of examples and check-sums:
     \tPos_ex\tNeg_ex\tTot_ex\tCheck_sum
{rows}"""


def _gzip(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as file:
        file.write(text)


def _nips_rows(kind, x):
    if kind == "non-sparse":  # "0 71 5 " with a trailing space
        return "".join(" ".join(map(str, row)) + " \n" for row in x)
    if kind == "sparse-integer":  # "10:105 39:85 " (1-based)
        return "".join(
            "".join(f"{j + 1}:{v} " for j, v in enumerate(row) if v) + "\n"
            for row in x
        )
    return "".join(  # sparse-binary: "354 386 517 " (1-based)
        "".join(f"{j + 1} " for j, v in enumerate(row) if v) + "\n" for row in x
    )


def write_nips2003_like(nips_dir, name, kind, features, sizes, seed=0):
    """A NIPS 2003 set: data, +1/-1 labels and a .param with check-sums.

    Returns:
        {subset: (x, y)} as written (y in {0, 1}; None for "test").
    """
    rng = np.random.default_rng(seed)
    high = 2 if kind == "sparse-binary" else 1000
    written, rows = {}, []
    for subset, count in sizes.items():
        x = rng.integers(0, high, (count, features))
        x[rng.random(x.shape) < 0.6] = 0
        folder = nips_dir / name
        _gzip(folder / f"{name}_{subset}.data.gz", _nips_rows(kind, x))
        y = None
        if subset != "test":
            y = np.arange(count) % 2
            rng.shuffle(y)
            labels = "".join("1\n" if v else "-1\n" for v in y)
            _gzip(folder / f"{name}_{subset}.labels.gz", labels)
            rows.append(
                f"{subset.title()}\t{y.sum():5d}\t{(y == 0).sum():5d}\t"
                f"{count:5d}\t{x.sum():.2f}\n"
            )
        written[subset] = (x, y)
    if name != "madelon":  # the shared madelon has no .param file
        param = PARAM.format(kind=kind, features=features, rows="".join(rows))
        _gzip(nips_dir / name / f"{name}.param.gz", param)
    return written


def write_spls_like(spls_dir, name, sizes, features, outputs=None, seed=0):
    """An spls set: `<name>/<name>_{train,valid}.{data,labels}.gz`."""
    rng = np.random.default_rng(seed)
    written = {}
    for subset, count in sizes.items():
        x = rng.standard_normal((count, features))
        if outputs is None:  # class indices, one a line
            y = (
                np.arange(count) % 3
                if name == "lymphoma"
                else rng.integers(0, 2, count)
            )
            labels = "".join(f"{v}\n" for v in y)
        else:  # several real outputs a line
            y = np.round(rng.uniform(5, 12, (count, outputs)), 2)
            labels = "".join(
                " ".join(f"{v:g}" for v in row) + "\n" for row in y
            )
        data = "".join(
            " ".join(repr(float(v)) for v in row) + "\n" for row in x
        )
        _gzip(spls_dir / name / f"{name}_{subset}.data.gz", data)
        _gzip(spls_dir / name / f"{name}_{subset}.labels.gz", labels)
        written[subset] = (x, y)
    return written


def write_tiny_fashion_mnist(folder, train=96, test=48, seed=0):
    """The four Fashion-MNIST IDX files (gzipped), with a few images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = (np.arange(count) % 10).astype(np.uint8)
        images = rng.integers(0, 60, (count, 28, 28), dtype=np.uint8)
        for label in range(10):  # a bright square per class: learnable
            row, col = divmod(label, 5)
            images[labels == label, 4 + 10 * row :, 2 + 5 * col :][
                :, :8, :4
            ] = 250
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def _write_idx(path, array):
    """IDX: zero, zero, type 0x08 (uint8), the rank; big-endian int32
    dimensions; the bytes (yann.lecun.com/exdb/mnist), gzipped."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim])
    header += np.asarray(array.shape, dtype=">i4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_reuters_like(
    path, count=300, topics=46, vocabulary=3000, topic_share=0.25, seed=0
):
    """A `reuters.npz` in the format of Keras' file: `x` an object array
    of lists of word indices (1 the most frequent word), `y` the topics.

    Word ranks follow Zipf's law; each topic draws `topic_share` of its
    words from 8 topic words of its own (among ranks 20 to 899), so a
    model can learn the topics.
    Topic sizes are uneven, as in the real set.

    Returns:
        `(x, y)` as written: a list of lists of ints and int64 topics.
    """
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, topics + 1)
    y = rng.choice(topics, size=count, p=weights / weights.sum())
    first = min(count, topics)
    y[:first] = np.arange(first)  # every topic at least once
    y = y.astype(np.int64)
    zipf = 1.0 / np.arange(1, vocabulary + 1)
    zipf /= zipf.sum()
    own = rng.choice(np.arange(20, 900), size=(topics, 8))
    x = []
    for topic in y:
        length = int(rng.integers(20, 200))
        words = rng.choice(vocabulary, size=length, p=zipf) + 1
        mark = rng.random(length) < topic_share
        words[mark] = rng.choice(own[topic], size=mark.sum()) + 1
        x.append([int(w) for w in words])
    array = np.empty(count, dtype=object)
    array[:] = x
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=array, y=y)
    return x, y
