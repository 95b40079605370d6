"""The settings a run uses, resolved before it runs (`ttrnn info`).

`resolved(experiment, protocol, built)` gathers what a run of the
experiment in that protocol would use: optimiser, learning rate, batch
size, epochs, validation, the L2 factors read off the built models'
layers, dropout, preprocessing and split. `format_settings` prints them
as a table.
"""

from ttrnn.experiments.experiment import SEED_2017

# Video frames: the paper protocol feeds raw pixels - 128 (as 2017);
# the fast protocol scales them to [-1, 1), which trains in far fewer
# epochs.
PAPER_PIXEL_SCALE = 1.0
FAST_PIXEL_SCALE = 1.0 / 128


def pixel_scale(protocol):
    """The factor on `pixel - 128` of video frames in `protocol`."""
    return PAPER_PIXEL_SCALE if protocol == "paper" else FAST_PIXEL_SCALE


def layer_l2(model):
    """The L2 factors of a built model's kernel regularisers.

    Returns:
        A dict: `"tt"` for the TT cores (of a TT layer), else the layer's
        name (`"hidden"`, `"head"`, `"rnn"`) to the factor; layers
        without an L2 regulariser are left out.
    """
    factors = {}
    for layer in model.layers:
        regularizer = getattr(layer, "kernel_regularizer", None)
        factor = None
        if regularizer is not None:
            factor = regularizer.get_config().get("l2")
        if factor:
            is_tt = type(layer).__name__.startswith("TT")
            factors["tt" if is_tt else layer.name] = float(factor)
    return factors


def resolved(experiment, protocol, built):
    """The settings of a run, as a JSON-ready dict.

    Args:
        experiment: the `Experiment` in `protocol`
            (`registry.resolve`).
        protocol: its protocol.
        built: `{model name: built Keras model}`, the models a run would
            train (their layers give the L2 factors).

    Returns:
        A dict with `experiment`, `protocol`, `optimizer`,
        `learning_rate`, `batch_size`, `epochs`, `validation_split`,
        `validation` (what validates), `early_stopping`, `l2` (layer to
        factor, over the models), `dropout` (model to input dropout;
        `None` for feed-forward models), `recurrent_dropout`,
        `head_dropout`, `preprocessing`, `split`, `folds` and `notes`.
    """
    e = experiment
    l2 = {}
    for model in built.values():
        l2.update(layer_l2(model))
    recurrent = e.kind != "feedforward"
    validation = "the test set (curves only)"
    if e.validation_split:
        validation = f"the last {e.validation_split:.0%} of the training set"
    stopping = None
    if e.stop_patience:
        stopping = {"patience": e.stop_patience, "tolerance": e.stop_tolerance}
    return {
        "experiment": e.name,
        "protocol": protocol,
        "optimizer": "adam",
        "learning_rate": e.learning_rate,
        "batch_size": e.batch_size,
        "epochs": e.epochs,
        "validation_split": e.validation_split,
        "validation": validation,
        "early_stopping": stopping,
        "l2": l2,
        "dropout": {m: e.dropout_for(m) for m in built} if recurrent else None,
        "recurrent_dropout": e.recurrent_dropout if recurrent else None,
        "head_dropout": e.head_dropout,
        "hidden_units": _widths(e, built) if recurrent else e.units,
        "preprocessing": _preprocessing(e, protocol),
        "split": e.split,
        "folds": None if e.folds is None else list(e.folds),
        "notes": e.notes,
    }


def _widths(experiment, built):
    plain = experiment.plain_rnn_units
    return {
        m: (experiment.units if m.startswith(("tt-", "vtt-")) else plain)
        for m in built
    }


def _preprocessing(e, protocol):
    if e.kind == "video":
        paper = protocol == "paper"
        scale = pixel_scale(protocol)
        return {
            "frames": "all" if paper else "sampled evenly over the clip",
            "every": e.every,
            "max_frames": e.max_frames,
            "frame_shape": list(e.frame_shape),
            "pixels": "x - 128" if scale == 1 else f"(x - 128) * {scale:g}",
            "padding": "zero pre-padding, masked" if paper else None,
        }
    if e.kind == "sequence":
        return {"scaling": e.scaling, "masking": e.masking}
    shuffle = e.column_shuffle
    if shuffle and e.data_subdir == "spls":
        shuffle = f"seed {SEED_2017}"
    elif shuffle:
        shuffle = "seeded by the run"
    return {
        "pad_to": e.input_dim,
        "column_shuffle": shuffle,
        "scaling": e.scaling,
    }


def format_settings(settings):
    """`resolved`'s dict as an aligned two-column text table."""
    lines = []
    for key, value in settings.items():
        if key in ("experiment", "protocol", "notes"):
            continue
        if isinstance(value, dict) and value:
            value = ", ".join(f"{k} {_text(v)}" for k, v in value.items())
        lines.append(f"{key:<20}{_text(value)}")
    if settings["notes"]:
        lines.append(f"{'notes':<20}{settings['notes']}")
    return "\n".join(lines)


def _text(value):
    if value is None or value == {}:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
