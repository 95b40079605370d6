"""Explanations of trained experiment models, scored and drawn.

The mnist-seq experiment (the 2018 TT-LSTM script) asks whether a
sequence of images holds one of class 0; after training, layer-wise
relevance propagation (`ttrnn.explain.lrp`) says how much each step drove
the answer, and the per-step relevance is scored against the steps that
really are class 0 (AUROC and AUPRC over the real, unpadded steps).
`ttrnn explain` draws the same per-step relevance for one input, and for
video a per-pixel map of its most relevant frames.
"""

import math

import numpy as np

from ttrnn.experiments import metrics
from ttrnn.experiments import plots
from ttrnn.explain import lrp

# Arras et al.'s settings (their code's defaults, used by the 2018 script).
EPS = 1e-3
BIAS_FACTOR = 0.0


def step_relevance(relevance):
    """Relevance a step: summed over each step's features.

    Args:
        relevance: `(batch, steps, ...)` from `lrp`.

    Returns:
        `(batch, steps)`.
    """
    relevance = np.asarray(relevance)
    return relevance.reshape(relevance.shape[0], relevance.shape[1], -1).sum(
        axis=-1
    )


def relevance_scores(model, x, step_labels, target=0, plot_path=None):
    """How well per-step relevance finds the steps that carry the answer.

    Args:
        model: the trained model (see `lrp` for the layers supported).
        x: test sequences `(batch, steps, features)`, zero pre-padded.
        step_labels: bool `(batch, steps)`: true where a step carries the
            answer (an image of class 0).
        target: the output unit explained (the binary head's only unit).
        plot_path: where to draw a few positive sequences with their
            relevance (PNG), or None.

    Returns:
        dict with `relevance_auroc` and `relevance_auprc` over the real
        (non-zero) steps.
    """
    per_step = step_relevance(
        lrp(model, x, target=target, eps=EPS, bias_factor=BIAS_FACTOR)
    )
    real = np.any(np.asarray(x) != 0, axis=-1)
    labels, scores = np.asarray(step_labels)[real], per_step[real]
    if plot_path is not None:
        shown = np.flatnonzero(np.asarray(step_labels).any(axis=1))[:4]
        try:
            sequences(plot_path, x[shown], per_step[shown], step_labels[shown])
        except ImportError as error:  # matplotlib is an optional extra
            plots.report_skipped(error)
    return {
        "relevance_auroc": metrics.auroc(labels, scores),
        "relevance_auprc": metrics.average_precision(labels, scores),
    }


def sequences(
    path,
    x,
    per_step,
    step_labels=None,
    image_shape=None,
    title="relevance a step",
):
    """Draws sequences of images over their relevance a step.

    Each sequence is a row of its real (non-zero) steps' images, with a
    bar under each image: its relevance (red for, blue against), on one
    scale for the row. Steps marked in `step_labels` get a green frame.

    Args:
        path: output PNG path.
        x: `(n, steps, features)` sequences, zero pre-padded.
        per_step: `(n, steps)` relevance.
        step_labels: bool `(n, steps)` to mark, or None.
        image_shape: `(rows, cols)` of an image, or None for a square.
        title: figure title.

    Returns:
        `path`.
    """
    plt = plots.pyplot()
    x, per_step = np.asarray(x), np.asarray(per_step)
    features = x.shape[-1]
    if image_shape is None:
        side = math.isqrt(features)
        image_shape = (side, side) if side * side == features else (1, -1)
    real = [np.flatnonzero(np.any(seq != 0, axis=-1)) for seq in x]
    width = max(1, max((len(r) for r in real), default=1))
    fig, axes = plt.subplots(
        2 * len(x),
        width,
        figsize=(0.8 * width + 1, 1.7 * len(x)),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1] * len(x)},
    )
    for ax in axes.ravel():
        ax.axis("off")
    for n, steps in enumerate(real):
        scale = np.abs(per_step[n, steps]).max() or 1.0
        for k, t in enumerate(steps):
            ax = axes[2 * n, k]
            ax.imshow(x[n, t].reshape(image_shape), cmap="gray")
            if step_labels is not None and step_labels[n, t]:
                ax.axis("on")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_color("green")
                    spine.set_linewidth(2.5)
            bar = axes[2 * n + 1, k]
            value = per_step[n, t] / scale
            bar.barh(0, value, color="tab:red" if value >= 0 else "tab:blue")
            bar.set_xlim(-1, 1)
            bar.axis("on")
            bar.set_yticks([])
            bar.set_xticks([])
    fig.suptitle(
        f"{title} (bars: relevance, scaled per row; green frame: a step "
        "that carries the answer)",
        fontsize=9,
    )
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def sequence_heatmap(path, x, relevance, title="relevance"):
    """Draws one sequence of feature vectors (not images) and its relevance.

    Three panels share the step axis (the real, non-zero steps only): the
    input values, the relevance of every input value (red for, blue
    against, one symmetric colour scale with its colour bar), and the
    relevance of each step (the sum over its features).

    Args:
        path: output PNG path.
        x: `(steps, features)`, zero pre-padded.
        relevance: the same shape.
        title: figure title.

    Returns:
        `path`.
    """
    plt = plots.pyplot()
    x, relevance = np.asarray(x), np.asarray(relevance)
    steps = np.flatnonzero(np.any(x != 0, axis=-1))
    if len(steps) == 0:
        steps = np.arange(len(x))
    x, relevance = x[steps], relevance[steps]
    per_step = relevance.sum(axis=-1)
    extent = (-0.5, x.shape[1] - 0.5, steps[-1] + 0.5, steps[0] - 0.5)
    fig, axes = plt.subplots(
        1,
        3,
        figsize=(13, 0.25 * len(steps) + 2.2),
        gridspec_kw={"width_ratios": [4, 4, 1.3]},
        sharey=True,
    )
    pixels = {"aspect": "auto", "extent": extent, "interpolation": "nearest"}
    im = axes[0].imshow(x, cmap="gray_r", **pixels)
    fig.colorbar(im, ax=axes[0], fraction=0.04).set_label("input value")
    axes[0].set_title("input", fontsize=9)
    axes[0].set_ylabel("step")
    scale = float(np.abs(relevance).max()) or 1.0
    im = axes[1].imshow(
        relevance,
        cmap="bwr",
        vmin=-scale,
        vmax=scale,
        **pixels,
    )
    bar = fig.colorbar(im, ax=axes[1], fraction=0.04)
    bar.set_label("relevance (red: for, blue: against)")
    axes[1].set_title("relevance of each input value", fontsize=9)
    for ax in axes[:2]:
        ax.set_xlabel("input feature")
    colors = ["tab:red" if v >= 0 else "tab:blue" for v in per_step]
    axes[2].barh(steps, per_step, color=colors, height=0.8)
    axes[2].axvline(0, color="black", linewidth=0.6)
    axes[2].set_xlabel("relevance a step")
    axes[2].set_title("sum over features", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def video(path, frames, relevance, frame_shape, top=4):
    """Draws a clip's relevance: a step at a time, then the `top` most
    relevant frames, each beside its per-pixel relevance.

    Args:
        path: output PNG path.
        frames: `(steps, height * width * 3)` (or unflattened) frames.
        relevance: the same shape.
        frame_shape: `(height, width, 3)`.
        top: frames drawn pixel by pixel.

    Returns:
        `path`.
    """
    plt = plots.pyplot()
    frames = np.asarray(frames).reshape((-1,) + tuple(frame_shape))
    pixels = np.asarray(relevance).reshape(frames.shape).sum(axis=-1)
    per_step = pixels.reshape(len(pixels), -1).sum(axis=-1)
    best = np.sort(np.argsort(-np.abs(per_step))[: min(top, len(frames))])
    fig = plt.figure(figsize=(3.2 * max(2, len(best)), 7.5))
    grid = fig.add_gridspec(3, max(1, len(best)), height_ratios=[1.2, 2, 2])
    ax = fig.add_subplot(grid[0, :])
    colors = ["tab:red" if v >= 0 else "tab:blue" for v in per_step]
    ax.bar(np.arange(len(per_step)), per_step, color=colors, width=1.0)
    ax.set_xlabel("frame")
    ax.set_ylabel("relevance")
    ax.set_title("relevance a frame (red: for the class, blue: against)")
    for k, t in enumerate(best):
        # Each map on its own scale: the spatial pattern of a weak frame
        # stays visible next to a strong one (the bars give the sizes).
        scale = np.abs(pixels[t]).max() or 1.0
        top_ax = fig.add_subplot(grid[1, k])
        top_ax.imshow(frames[t].astype("uint8"))
        top_ax.set_title(f"frame {t}", fontsize=9)
        top_ax.axis("off")
        heat = fig.add_subplot(grid[2, k])
        heat.imshow(pixels[t], cmap="bwr", vmin=-scale, vmax=scale)
        heat.set_title(
            f"per pixel (own scale), sum {per_step[t]:.3g}", fontsize=9
        )
        heat.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def vector(path, x, relevance, image_shape=None, top=30):
    """Draws one example's relevance: as a heat map beside the image when
    `image_shape` is given, else the `top` features by |relevance|.

    Returns:
        `path`.
    """
    plt = plots.pyplot()
    x, relevance = np.ravel(x), np.ravel(relevance)
    if image_shape is not None:
        fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
        axes[0].imshow(x.reshape(image_shape), cmap="gray")
        axes[0].set_title("input")
        scale = np.abs(relevance).max() or 1.0
        axes[1].imshow(
            relevance.reshape(image_shape),
            cmap="bwr",
            vmin=-scale,
            vmax=scale,
        )
        axes[1].set_title("relevance (red: for, blue: against)")
        for ax in axes:
            ax.axis("off")
    else:
        order = np.argsort(-np.abs(relevance))[:top]
        fig, ax = plt.subplots(figsize=(7, 0.25 * len(order) + 1))
        colors = ["tab:red" if relevance[i] >= 0 else "tab:blue" for i in order]
        ax.barh(np.arange(len(order)), relevance[order], color=colors)
        ax.set_yticks(np.arange(len(order)), [f"feature {i}" for i in order])
        ax.invert_yaxis()
        ax.set_xlabel("relevance")
        ax.set_title(f"the {len(order)} most relevant features")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
