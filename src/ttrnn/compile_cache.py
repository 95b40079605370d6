"""A persistent cache of JAX's compiled steps for ttrnn's commands.

On JAX every shape a training run meets (each length bucket, the
validation batches) is compiled by XLA when first seen: seconds a shape
for the video TT-RNNs, most of a short run's first epoch. The commands
(`ttrnn experiment`, `reproduce`, `demo`, ...) keep the compiled
programs on disk, so that a resumed, repeated or reproduced run with the
same shapes starts at full speed. Library users opt in themselves:
`jax.config.update("jax_compilation_cache_dir", ...)`.

- `$TTRNN_COMPILE_CACHE`: the folder, or `off`; default
  `~/.cache/ttrnn/jax-compile`.
- A JAX cache the user set (`$JAX_COMPILATION_CACHE_DIR` or
  `jax.config`) is left as it is.
"""

import os

ENV = "TTRNN_COMPILE_CACHE"
# Programs that compiled faster than this are not written: the cache then
# holds the train and test steps, not every small helper computation.
MIN_COMPILE_SECONDS = 1.0


def default_folder():
    """`~/.cache/ttrnn/jax-compile`."""
    return os.path.join(
        os.path.expanduser("~"), ".cache", "ttrnn", "jax-compile"
    )


def enable():
    """Turns on JAX's persistent compilation cache for this process.

    Does nothing on another backend, with `$TTRNN_COMPILE_CACHE=off`, or
    when the user chose a JAX cache folder already.

    Returns:
        The cache folder in use, or `None` when none was set here.
    """
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

    folder = os.environ.get(ENV, "").strip()
    if folder.lower() == "off":
        return None
    if jax.config.jax_compilation_cache_dir:  # the user's choice
        return None
    folder = os.path.abspath(os.path.expanduser(folder or default_folder()))
    os.makedirs(folder, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update(
        "jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS
    )
    return folder
