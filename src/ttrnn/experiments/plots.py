"""PNG plots of the experiments (matplotlib, Agg backend: no display).

- `learning_curves`: loss and the headline metric per epoch, train and
  test, one colour per model.
- `weights`: per model, the histogram of the entries of the
  input-to-hidden matrix W and either, for video models, how strongly
  each input pixel feeds the hidden units (the norm of its rows of W,
  shown as a frame on one colour scale for all models), or the TT cores
  (or W itself) as heat maps. A caption under the figure says what the
  panels show.

Epoch axes carry integer ticks only.
"""

import math
import os
import sys
import textwrap

import numpy as np

from ttrnn import extras


def report_skipped(error):
    """Prints one line to stderr: plots were skipped, and why.

    Args:
        error: the ImportError of matplotlib (an optional extra).
    """
    # A MissingExtraError already says what to install.
    advice = ""
    if not isinstance(error, extras.MissingExtraError):
        advice = " (pip install matplotlib)"
    print(f"ttrnn: plots skipped: {error}{advice}", file=sys.stderr)


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed).

    Raises:
        ttrnn.extras.MissingExtraError: (an `ImportError`) without
            matplotlib, naming `pip install "ttrnn[plots]"`.
    """
    matplotlib = extras.require("matplotlib", "plots", "Drawing plots")

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
    plt = pyplot()
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
        ax.xaxis.set_major_locator(_integer_ticks())
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

    Left, per model: the histogram of the entries of W, the (inputs,
    gates * units) input-to-hidden matrix; for a TT layer those are the
    entries of W rebuilt from the cores (the title gives both counts).
    Right: with `frame_shape`, the norm of each input pixel's rows of W
    (how strongly that pixel feeds the hidden units), divided by its mean
    over the frame and drawn on one colour scale for all models; without,
    the TT cores side by side, or W itself (subsampled).

    Args:
        models: dict from model name to a built Keras model whose first
            TT / Dense / RNN layer holds the input-to-hidden weights.
        path: output PNG path.
        frame_shape: `(height, width)` when the inputs are flattened RGB
            frames (height * width * channels, channels last).
        max_dense_values: TT kernels larger than this are not rebuilt
            (the histogram then shows the core entries).

    Returns:
        `path`.
    """
    plt = pyplot()
    panels = []
    for name, model in models.items():
        layer = input_layer(model)
        kernel, cores = _kernel_and_cores(layer, max_dense_values)
        panels.append((name, layer, kernel, cores))
    images = {}
    if frame_shape is not None:
        for name, _, kernel, _ in panels:
            if kernel is not None:
                images[name] = _pixel_norms(kernel, frame_shape)
    top = max((float(im.max()) for im in images.values()), default=1.0)
    fig, axes = plt.subplots(
        len(panels), 2, figsize=(11, 3.6 * len(panels)), squeeze=False
    )
    for row, (name, layer, kernel, cores) in zip(axes, panels):
        _histogram(row[0], name, layer, kernel, cores)
        ax = row[1]
        if name in images:
            im = ax.imshow(images[name], cmap="viridis", vmin=0, vmax=top)
            bar = fig.colorbar(im, ax=ax, fraction=0.035)
            bar.set_label("row norm / mean", fontsize=8)
            ax.set_title(
                f"{name}: how strongly each pixel feeds the hidden units",
                fontsize=9,
            )
            ax.set_xlabel("pixel x")
            ax.set_ylabel("pixel y")
        elif cores:
            im = ax.imshow(
                _tile_cores(cores),
                cmap="coolwarm",
                aspect="auto",
                vmin=-1,
                vmax=1,
            )
            fig.colorbar(im, ax=ax, fraction=0.035)
            ax.set_title(
                f"{name}: the {len(cores)} TT cores, each scaled to +-1",
                fontsize=9,
            )
            ax.set_xlabel("core k: n_k * r_(k+1) columns, left to right")
            ax.set_ylabel("r_k * m_k rows")
        else:
            small = kernel[:: max(1, len(kernel) // 256)]
            small = small[:, :: max(1, small.shape[1] // 256)]
            sub = " (subsampled)" if small.shape != kernel.shape else ""
            limit = float(np.abs(small).max()) or 1.0
            im = ax.imshow(
                small, cmap="coolwarm", aspect="auto", vmin=-limit, vmax=limit
            )
            fig.colorbar(im, ax=ax, fraction=0.035)
            ax.set_title(f"{name}: W{sub}", fontsize=9)
            ax.set_xlabel("column of W: unit (RNN gates side by side)")
            ax.set_ylabel("input feature")
    caption = _caption(images, panels)
    fig.tight_layout(rect=(0, 0.09 if caption else 0, 1, 1))
    if caption:
        fig.text(0.01, 0.01, caption, fontsize=8, va="bottom", wrap=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _histogram(ax, name, layer, kernel, cores):
    """Histogram of W's entries (or of the core entries), titled honestly."""
    count = _count(layer)
    if kernel is not None:
        values = kernel.ravel()
        if cores:
            what = (
                f"entries of W rebuilt from the cores\n"
                f"({_amount(values.size)} entries from {count:,} TT weights)"
            )
        else:
            what = f"entries of W ({count:,} weights)"
    else:
        values = np.concatenate([c.ravel() for c in cores])
        what = f"entries of the TT cores ({count:,} weights)"
    ax.hist(values, bins=80, color="tab:blue")
    ax.set_title(f"{name}: {what}", fontsize=9)
    ax.set_xlabel("value")
    ax.set_ylabel("count")


def _pixel_norms(kernel, frame_shape):
    """Per pixel, the norm of its rows of W (channels averaged), / mean."""
    norms = np.linalg.norm(kernel, axis=1)
    image = norms.reshape(*frame_shape, -1).mean(axis=-1)
    return image / (image.mean() or 1.0)


def _caption(images, panels):
    parts = []
    if any(cores for _, _, kernel, cores in panels if kernel is not None):
        parts.append(
            "Left: the entries of W. A TT layer's W holds far more entries "
            "than the layer has weights: each entry is a product of TT "
            "weights."
        )
    if images:
        parts.append(
            "Right: for each input pixel, the norm of its rows of W (its "
            "weights to all hidden units and gates, averaged over R, G, B), "
            "divided by the mean over the frame: bright pixels feed the "
            "hidden units strongly, dark ones barely. One colour scale for "
            "all models."
        )
    return "\n".join(textwrap.fill(part, 170) for part in parts)


def _amount(n):
    """44.2 M, 12.3 k, 512."""
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} M"
    if n >= 10_000:
        return f"{n / 1e3:.1f} k"
    return f"{n:,}"


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


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
