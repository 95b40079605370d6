"""PNG plots of the experiments (matplotlib, Agg backend: no display).

- `learning_curves`: loss and the headline metric per epoch, train and
  test, one colour per model.
- `weights`: per model, the histogram of the input-to-hidden weights and
  either the TT cores as heat maps or, for video models, how strongly
  each pixel feeds the hidden layer (row norms of W shown as a frame).
"""

import math
import os

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def learning_curves(histories, path, metric, title=""):
    """Plots loss and `metric` against epochs for several models.

    Args:
        histories: dict from model name to a Keras history dict (keys
            `loss`, `val_loss`, `<metric>`, `val_<metric>`).
        path: output PNG path.
        metric: the metric key to plot next to the loss (e.g.
            `"accuracy"`); skipped when absent.
        title: figure title.

    Returns:
        `path`.
    """
    plt = _pyplot()
    keys = ["loss"]
    if any(metric in h for h in histories.values()):
        keys.append(metric)
    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 4))
    axes = np.atleast_1d(axes)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes, keys):
        for i, (name, history) in enumerate(histories.items()):
            color = colors[i % len(colors)]
            for prefix, style, label in (
                ("", "-", "train"),
                ("val_", "--", "test"),
            ):
                values = history.get(prefix + key)
                if values:
                    epochs = np.arange(1, len(values) + 1)
                    ax.plot(
                        epochs,
                        values,
                        style,
                        color=color,
                        label=f"{name} ({label})",
                    )
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def weights(models, path, frame_shape=None, max_dense_values=64_000_000):
    """Plots the input-to-hidden weights of each model.

    Args:
        models: dict from model name to a built Keras model whose first
            TT / Dense / RNN layer holds the input-to-hidden weights.
        path: output PNG path.
        frame_shape: `(height, width)` when the inputs are flattened RGB
            frames: then the second panel shows the row norms of W as an
            image. Otherwise it shows the TT cores (or the dense kernel).
        max_dense_values: TT kernels larger than this are not rebuilt
            (the histogram then shows the core entries).

    Returns:
        `path`.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(models), 2, figsize=(11, 3.4 * len(models)), squeeze=False
    )
    for row, (name, model) in zip(axes, models.items()):
        layer = input_layer(model)
        kernel, cores = _kernel_and_cores(layer, max_dense_values)
        values = (
            kernel
            if kernel is not None
            else np.concatenate([c.ravel() for c in cores])
        )
        row[0].hist(values.ravel(), bins=80, color="tab:blue")
        what = "W" if kernel is not None else "core entries"
        row[0].set_title(
            f"{name}: {what} ({_count(layer):,} weights)", fontsize=9
        )
        ax = row[1]
        if frame_shape is not None and kernel is not None:
            norms = np.linalg.norm(kernel, axis=1)
            image = norms.reshape(*frame_shape, -1).mean(axis=-1)
            im = ax.imshow(image, cmap="viridis")
            fig.colorbar(im, ax=ax, fraction=0.03)
            ax.set_title(f"{name}: |W| row norm per pixel", fontsize=9)
            ax.axis("off")
        elif cores:
            ax.imshow(_tile_cores(cores), cmap="coolwarm", aspect="auto")
            ax.set_title(
                f"{name}: {len(cores)} TT cores (r*m x n*r each)", fontsize=9
            )
            ax.axis("off")
        else:
            small = kernel[:: max(1, len(kernel) // 256)]
            small = small[:, :: max(1, small.shape[1] // 256)]
            ax.imshow(small, cmap="coolwarm", aspect="auto")
            ax.set_title(f"{name}: W (subsampled)", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def input_layer(model):
    """The layer of a model holding its input-to-hidden weights."""
    for layer in model.layers:
        if hasattr(layer, "cores") or hasattr(layer, "kernel"):
            return layer
        cell = getattr(layer, "cell", None)
        if cell is not None and hasattr(cell, "kernel"):
            return layer
    raise ValueError(f"No weight layer in model {model.name!r}.")


def _kernel_and_cores(layer, max_dense_values):
    import keras

    cores = getattr(layer, "cores", None)
    if cores:
        cores = [keras.ops.convert_to_numpy(c) for c in cores]
        d = len(layer.tt_input_shape)
        columns = math.prod(c.shape[2] for c in cores[:d]) * (len(cores) // d)
        size = layer.input_dim * columns
        if size <= max_dense_values and hasattr(layer, "to_dense"):
            kernel = keras.ops.convert_to_numpy(layer.to_dense())
            return kernel, cores
        return None, cores
    owner = getattr(layer, "cell", layer)
    return keras.ops.convert_to_numpy(owner.kernel), None


def _count(layer):
    cores = getattr(layer, "cores", None)
    if cores:
        return sum(math.prod(c.shape) for c in cores)
    owner = getattr(layer, "cell", layer)
    return math.prod(owner.kernel.shape)


def _tile_cores(cores):
    """Cores side by side, each as an (r*m, n*r') matrix, scaled to +-1."""
    blocks = []
    for core in cores:
        r0, m, n, r1 = core.shape
        block = core.reshape(r0 * m, n * r1)
        scale = np.abs(block).max() or 1.0
        blocks.append(block / scale)
    height = max(b.shape[0] for b in blocks)
    padded = [
        np.pad(b, ((0, height - b.shape[0]), (0, 1)), constant_values=np.nan)
        for b in blocks
    ]
    return np.concatenate(padded, axis=1)


def save_all(path_prefix, histories, models, metric, frame_shape, title):
    """Writes `<prefix>curves.png` and `<prefix>weights.png`.

    Returns:
        The list of written paths.
    """
    directory = os.path.dirname(path_prefix)
    if directory:
        os.makedirs(directory, exist_ok=True)
    paths = [
        learning_curves(histories, f"{path_prefix}curves.png", metric, title)
    ]
    if models:
        paths.append(weights(models, f"{path_prefix}weights.png", frame_shape))
    return paths
