"""Every ```python block of README.md and docs/*.md runs as written.

Each block runs alone in a fresh interpreter on the suite's backend, in a
temporary folder, so a block cannot lean on names or files of an earlier
one. A block preceded by `<!-- no-run: REASON -->` is not run (it needs
data or long training); the reason must be given. `>>>` examples of the
docstrings are run by test_docstrings.py.
"""

import os
import pathlib
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TIMEOUT = 180  # seconds a block; the slowest runs in a few on a laptop
_BLOCK = re.compile(
    r"(?P<marker><!--\s*no-run:(?P<reason>[^>]*)-->\s*\n)?"
    r"^```python[ \t]*\n(?P<code>.*?)^```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def python_blocks(text):
    """The ```python blocks of a Markdown text.

    Args:
        text: Markdown.

    Returns:
        A list of `(line, code, reason)`: the block's first line number,
        its code, and the reason of its `<!-- no-run: ... -->` marker
        (None for a block that runs; "" for a marker without a reason).
    """
    blocks = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code"))
        reason = match.group("reason")
        blocks.append(
            (line, match.group("code"), None if reason is None else reason)
        )
    return blocks


def _all_blocks():
    params = []
    for path in DOCS:
        for line, code, reason in python_blocks(path.read_text("utf-8")):
            name = f"{path.relative_to(REPO)}:{line}"
            params.append(pytest.param(code, reason, id=name))
    return params


BLOCKS = _all_blocks()


def test_blocks_are_found():
    names = {param.id.split(":")[0] for param in BLOCKS}
    assert "README.md" in names
    assert "docs/tt-rnn.md" in names
    assert len(BLOCKS) >= 20


def test_not_run_blocks_are_rare_and_say_why():
    reasons = [p.values[1] for p in BLOCKS if p.values[1] is not None]
    assert all(reason.strip() for reason in reasons), reasons
    assert len(reasons) <= len(BLOCKS) // 4


def test_parser_reads_markers_and_line_numbers():
    text = (
        "# T\n\n```python\na = 1\n```\n\n<!-- no-run: needs UCF11 -->\n"
        "```python\nb = 2\n```\n```bash\nls\n```\n"
    )
    assert python_blocks(text) == [
        (3, "a = 1\n", None),
        (8, "b = 2\n", " needs UCF11 "),
    ]


def _imports_keras_before_ttrnn(code):
    """Whether `code` imports Keras before ttrnn (or without it)."""
    for line in code.splitlines():
        if re.match(r"\s*(import|from) ttrnn\b", line):
            return False
        if re.match(r"\s*(import|from) keras\b", line):
            return True
    return False


@pytest.mark.parametrize("code, reason", BLOCKS)
def test_block_imports_ttrnn_before_keras(code, reason):
    # On a one-backend install Keras alone defaults to TensorFlow;
    # `import ttrnn` first selects an installed backend.
    assert not _imports_keras_before_ttrnn(code)


def test_import_order_check():
    assert _imports_keras_before_ttrnn("import numpy\nimport keras\n")
    assert _imports_keras_before_ttrnn("from keras import layers\n")
    assert not _imports_keras_before_ttrnn("import ttrnn\nimport keras\n")
    assert not _imports_keras_before_ttrnn("from ttrnn import tt\n")


def _run_block(code, folder):
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "jax")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO / "src"), env.get("PYTHONPATH")])
    )
    try:
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        return error


@pytest.fixture(scope="module")
def block_runs(request, tmp_path_factory):
    """The selected blocks, each started in its own interpreter.

    Interpreter start-up (Keras and a backend) is most of each block's
    time, so the blocks run side by side, one per CPU core (at most 4).
    """
    selected = {
        item.callspec.id
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_block_runs"
    }
    pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))
    futures = {}
    for param in BLOCKS:
        if param.id in selected and param.values[1] is None:
            folder = tmp_path_factory.mktemp("block")
            futures[param.id] = pool.submit(_run_block, param.values[0], folder)
    yield futures
    pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize("code, reason", BLOCKS)
def test_block_runs(code, reason, request, block_runs):
    if reason is not None:
        pytest.skip(f"marked no-run:{reason}")
    done = block_runs[request.node.callspec.id].result()
    assert not isinstance(done, subprocess.TimeoutExpired), (
        f"ran over {TIMEOUT} s"
    )
    assert done.returncode == 0, done.stderr[-3000:]
