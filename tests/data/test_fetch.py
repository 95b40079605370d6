"""Fetching data sets on first use (`ttrnn.data.fetch`), against a local
HTTP mirror in a thread (tests/mirror_server.py): verify and cache,
checksum errors, interrupted downloads, offline, trust on first use,
archives (tar.gz, zip; RAR without a reader)."""

import hashlib
import io
import json
import os
import sys
import tarfile
import zipfile

import pytest

from tests.mirror_server import MirrorServer
from ttrnn import data
from ttrnn.data import sources
from ttrnn.data.sources import DataFile
from ttrnn.data.sources import DataSource
from ttrnn.data.unpacking import UnpackToolError

GROUP = "toys"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("TTRNN_DATA_CACHE", str(root))
    monkeypatch.delenv("TTRNN_OFFLINE")
    return root


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    with MirrorServer(tmp_path / "mirror") as server:
        monkeypatch.setenv("TTRNN_DATA_MIRROR", server.url)
        yield server


def _sha256(content):
    return "sha256:" + hashlib.sha256(content).hexdigest()


def _publish(monkeypatch, mirror, files, name="toy", algorithm="sha256", **kw):
    """Puts `files` ({file: bytes}) on the mirror and registers a data set
    with their hashes (`algorithm=None`: none, trust on first use)."""
    folder = mirror.root / GROUP / name
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for file, content in files.items():
        (folder / file).write_bytes(content)
        digest = None
        if algorithm:
            hexdigest = hashlib.new(algorithm, content).hexdigest()
            digest = f"{algorithm}:{hexdigest}"
        unpack = {"gz": "tar", "zip": "zip", "rar": "rar"}.get(
            file.rpartition(".")[2]
        )
        url = f"https://example.invalid/{file}"  # never asked: the mirror is
        entries.append(DataFile(file, url, digest, len(content), unpack))
    source = DataSource(name, GROUP, "a toy", "CC0", tuple(entries), **kw)
    monkeypatch.setitem(sources.DATA_SOURCES, name, source)
    return folder


def _files(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, _, names in os.walk(root)
        for f in names
    )


def test_fetch_verifies_and_caches_in_the_mirror_layout(
    cache, mirror, monkeypatch
):
    files = {"a.txt": b"alpha\n", "b.bin": bytes(range(256)) * 40}
    _publish(monkeypatch, mirror, files)
    assert not data.list_datasets()[-1]["cached"]
    path = data.fetch("toy")
    assert path == str(cache / GROUP / "toy") == data.data_path("toy")
    for file, content in files.items():
        assert (cache / GROUP / "toy" / file).read_bytes() == content
    assert mirror.hits == [f"{GROUP}/toy/a.txt", f"{GROUP}/toy/b.bin"]
    # Cached: verified, not downloaded again, even with the server gone.
    mirror.stop()
    assert data.fetch("toy") == path
    assert data.fetch("toy", offline=True) == path
    assert len(mirror.hits) == 2
    listed = {row["name"]: row for row in data.list_datasets()}
    assert listed["toy"]["cached"] and listed["toy"]["size"] == 10246
    assert not listed["arcene"]["cached"]


def test_corrupt_download_is_a_checksum_error_and_nothing_is_kept(
    cache, mirror, monkeypatch
):
    good, bad = b"the real file\n", b"another file\n"
    folder = _publish(monkeypatch, mirror, {"a.txt": good})
    (folder / "a.txt").write_bytes(bad)
    with pytest.raises(data.DataChecksumError) as error:
        data.fetch("toy")
    assert str(error.value).startswith(
        f"Checksum mismatch for a.txt from {mirror.url}/{GROUP}/toy/a.txt: "
        f"expected {_sha256(good)}, got {_sha256(bad)}."
    )
    assert (error.value.expected, error.value.actual) == (
        _sha256(good),
        _sha256(bad),
    )
    assert _files(cache) == []


def test_md5_hashes(cache, mirror, monkeypatch):
    folder = _publish(monkeypatch, mirror, {"a.txt": b"x"}, algorithm="md5")
    assert data.fetch("toy")
    (folder / "a.txt").write_bytes(b"y")
    (cache / GROUP / "toy" / "a.txt").unlink()
    md5 = hashlib.md5(b"y").hexdigest()
    with pytest.raises(data.DataChecksumError, match=f"got md5:{md5}"):
        data.fetch("toy")


def test_interrupted_download_leaves_nothing_and_recovers(
    cache, mirror, monkeypatch
):
    content = os.urandom(200_000)
    _publish(monkeypatch, mirror, {"a.bin": content})
    mirror.drop_once.add(f"{GROUP}/toy/a.bin")
    with pytest.raises(data.DataFetchError, match="Could not download a.bin"):
        data.fetch("toy")
    assert _files(cache) == []
    path = data.fetch("toy")
    assert (cache / GROUP / "toy" / "a.bin").read_bytes() == content
    assert path == str(cache / GROUP / "toy")


def test_corrupt_cached_file(cache, mirror, monkeypatch):
    _publish(monkeypatch, mirror, {"a.txt": b"good"})
    data.fetch("toy")
    cached = cache / GROUP / "toy" / "a.txt"
    cached.write_bytes(b"rotten")
    with pytest.raises(data.DataChecksumError, match="cached .*a.txt"):
        data.fetch("toy", offline=True)
    data.fetch("toy")  # online: fetched again
    assert cached.read_bytes() == b"good"


def test_offline_never_touches_the_network(cache, mirror, monkeypatch):
    _publish(monkeypatch, mirror, {"a.txt": b"x"})
    monkeypatch.setenv("TTRNN_OFFLINE", "1")
    with pytest.raises(data.DataOfflineError) as error:
        data.fetch("toy")
    message = str(error.value)
    assert "`ttrnn data get toy`" in message
    assert "$TTRNN_DATA_MIRROR" in message
    assert mirror.hits == []
    assert data.fetch("toy", offline=False)
    assert len(mirror.hits) == 1


def test_trust_on_first_use(cache, mirror, monkeypatch, capsys):
    folder = _publish(monkeypatch, mirror, {"a.txt": b"first"}, algorithm=None)
    data.fetch("toy")
    recorded = json.loads((cache / "hashes.json").read_text())
    assert recorded == {f"{GROUP}/toy/a.txt": _sha256(b"first")}
    assert f"recorded {_sha256(b'first')}" in capsys.readouterr().err
    # A later download must match the recorded hash.
    (cache / GROUP / "toy" / "a.txt").unlink()
    (folder / "a.txt").write_bytes(b"second")
    with pytest.raises(data.DataChecksumError, match="expected sha256:"):
        data.fetch("toy")
    assert not (cache / GROUP / "toy").exists()


def _tar_gz(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_archives_are_unpacked_and_removed(cache, mirror, monkeypatch):
    tar = _tar_gz({"batches/data_1": b"one", "batches/test": b"two"})
    zipped = _zip({"extra/readme.txt": b"three"})
    _publish(
        monkeypatch,
        mirror,
        {"toy-python.tar.gz": tar, "toy-extra.zip": zipped},
        root="toy-python",
    )
    path = data.fetch("toy")
    assert path == str(cache / GROUP / "toy" / "toy-python")
    assert _files(cache / GROUP / "toy") == [
        "toy-extra/extra/readme.txt",
        "toy-python/batches/data_1",
        "toy-python/batches/test",
    ]
    mirror.stop()
    assert data.fetch("toy") == path  # the unpacked folders are the cache


def test_rar_without_a_reader(cache, mirror, monkeypatch):
    _publish(monkeypatch, mirror, {"clips.rar": b"Rar!\x1a\x07\x00 fake"})
    monkeypatch.setitem(sys.modules, "rarfile", None)  # not installed
    with pytest.raises(UnpackToolError) as error:
        data.fetch("toy")
    message = str(error.value)
    assert 'pip install "ttrnn[rar]"' in message
    assert "unrar" in message and "bsdtar" in message
    assert str(cache / GROUP / "toy" / "clips") in message  # by hand
    # The verified archive stays; nothing half-unpacked.
    assert _files(cache) == [f"{GROUP}/toy/clips.rar"]


def test_not_downloadable_and_unknown_names(cache):
    with pytest.raises(data.DataNotDownloadableError) as error:
        data.fetch("youtube-celebrities")
    assert "on request" in str(error.value)
    assert "--data-dir" in str(error.value)
    assert str(cache / "video" / "youtube-celebrities") in str(error.value)
    by_hand = cache / "video" / "youtube-celebrities"
    by_hand.mkdir(parents=True)
    (by_hand / "0001_01_001_alanis_morissette.avi").write_bytes(b"")
    assert data.fetch("youtube-celebrities") == str(by_hand)
    with pytest.raises(data.DataFetchError, match="Received: name='nope'"):
        data.fetch("nope")


def test_keras_progress_bar(cache, mirror, monkeypatch, capsys):
    _publish(monkeypatch, mirror, {"a.bin": bytes(300_000)})
    data.fetch("toy", progress=True)
    assert "300000/300000" in capsys.readouterr().out


def test_registry():
    every = sources.DATA_SOURCES.values()
    for source in every:
        assert source.description and source.licence
        assert source.files or source.request
        for file in source.files:
            assert file.url.startswith(("https://", "http://", "ftp://"))
            assert file.hash is None or file.hash.startswith(
                ("sha256:", "md5:")
            )
    # Only the files no hash is published for are trusted on first use.
    unhashed = {f.name for s in every for f in s.files if f.hash is None}
    assert unhashed == {
        "gisette_train.data",
        "UCF11_updated_mpg.rar",
        "hmdb51_org.rar",
        "test_train_splits.rar",
        "Hollywood2-actions.tar.gz",
    }


def test_real_files_match_the_registry(shared_data_dir, cache, monkeypatch):
    """The NIPS 2003 and spls files as the 2017 repository has them
    ($TTRNN_REAL_DATA, in the mirror layout) pass the registry's hashes:
    served as a mirror, every one is fetched and verified."""
    with MirrorServer(shared_data_dir) as server:
        monkeypatch.setenv("TTRNN_DATA_MIRROR", server.url)
        for source in sources.DATA_SOURCES.values():
            if source.group in ("nips2003", "spls") and source.name != (
                "gisette"  # its training data is not in the 2017 copy
            ):
                data.fetch(source.name)
    x, y = data.read_nips2003_subset("arcene", "train", data.fetch("arcene"))
    assert x.shape == (100, 10_000) and y.sum() == 44


def test_video_set_is_fetched_unpacked_and_listed(
    cache, mirror, monkeypatch, tmp_path
):
    """Hollywood2 from a tar.gz in its own layout (a `Hollywood2/`
    folder), through `load_video` without --data-dir; its hash is
    recorded at the first download."""
    pytest.importorskip("av")
    from ttrnn.experiments import datasets
    from ttrnn.experiments import registry

    clips = tmp_path / "clips"
    data.write_hollywood2_like(
        clips / "Hollywood2",
        num_train=3,
        num_test=2,
        num_frames=2,
        frame_shape=(8, 8),
    )
    folder = mirror.root / "video" / "hollywood2"
    folder.mkdir(parents=True)
    with tarfile.open(folder / "Hollywood2-actions.tar.gz", "w:gz") as tar:
        tar.add(clips / "Hollywood2", arcname="Hollywood2")
    dataset = datasets.load_video(registry.get("hollywood2"), None)
    assert len(dataset.clips) == 5
    assert dataset.clips[0].startswith(
        str(cache / "video" / "hollywood2" / "Hollywood2-actions")
    )
    recorded = json.loads((cache / "hashes.json").read_text())
    assert list(recorded) == ["video/hollywood2/Hollywood2-actions.tar.gz"]
    cached = cache / "video" / "hollywood2"
    assert not (cached / "Hollywood2-actions.tar.gz").exists()  # unpacked
