"""The commands' persistent JAX compilation cache (`ttrnn.compile_cache`):
each case runs in a child process, as JAX's configuration is global."""

import os
import subprocess
import sys

import keras
import pytest

from ttrnn import compile_cache

# A jitted function compiled in a child process with `enable()`; it
# prints the folder `enable` returned and the cache files written.
CHILD = """
import os, sys
import jax, jax.numpy as jnp
from ttrnn import compile_cache
folder = compile_cache.enable()
print("FOLDER", folder)
if folder:
    # Write every program, however fast it compiled.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.jit(lambda x: jnp.sin(x) @ x.T)(jnp.ones((8, 8))).block_until_ready()
print("FILES", len(os.listdir(folder)) if folder else 0)
"""


def _child(env):
    env = {**os.environ, "KERAS_BACKEND": "jax", **env}
    for name in (compile_cache.ENV, "JAX_COMPILATION_CACHE_DIR"):
        if env.get(name) is None:
            env.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(
        line.split(" ", 1) for line in out.stdout.splitlines() if " " in line
    )
    return lines["FOLDER"], int(lines["FILES"])


def test_the_folder_is_written_and_read_again(tmp_path):
    pytest.importorskip("jax")
    folder = tmp_path / "compiled"
    first = _child({compile_cache.ENV: str(folder)})
    assert first[0] == str(folder) and first[1] > 0
    names = set(os.listdir(folder))
    again = _child({compile_cache.ENV: str(folder)})
    assert again == (str(folder), len(names))  # read, nothing new
    assert set(os.listdir(folder)) == names


def test_off_and_the_users_own_cache_are_respected(tmp_path):
    pytest.importorskip("jax")
    assert _child({compile_cache.ENV: "off"}) == ("None", 0)
    own = tmp_path / "own"
    # The user's JAX cache: ttrnn sets nothing, JAX writes there itself.
    got = _child(
        {
            compile_cache.ENV: str(tmp_path / "ours"),
            "JAX_COMPILATION_CACHE_DIR": str(own),
        }
    )
    assert got == ("None", 0)
    assert not (tmp_path / "ours").exists()


def test_other_backends_set_nothing():
    if keras.backend.backend() == "jax":
        pytest.skip("the JAX case runs in the child processes above")
    assert compile_cache.enable() is None


def test_default_folder_is_under_the_users_cache():
    assert compile_cache.default_folder() == os.path.join(
        os.path.expanduser("~"), ".cache", "ttrnn", "jax-compile"
    )
