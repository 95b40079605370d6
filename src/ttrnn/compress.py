"""Compress a trained Keras model: dense kernels become TT-matrices.

`compress(model)` clones a Sequential or functional model, replacing the
chosen `keras.layers.Dense` layers by `TTDense` layers whose cores are the
TT-SVD of the trained kernels (biases copied) and rounding the `TTDense`
layers it already has. Every other layer is copied with its weights. With
no truncation the new model computes the same outputs (to float rounding).

Keras' SimpleRNN, GRU and LSTM become TTSimpleRNN, TTGRU and TTLSTM (the
"shared" gate layout; recurrent kernels and biases copied), and TT-RNN
layers are TT-rounded. Keras' Embedding becomes TTEmbedding (the TT-SVD of
the table, padded with zero rows to the vocabulary modes' product).
`converters()` lists `(layer class, function)`
pairs (`ttrnn.conversions`): each TT layer class names the Keras class it
replaces (`keras_class`) and converts it (`from_keras`), so a new TT layer
plugs in from its own module.
"""

import dataclasses
import numbers
import warnings

import keras

from ttrnn import compress_data
from ttrnn.conversions import Options
from ttrnn.conversions import Skip
from ttrnn.conversions import converter
from ttrnn.conversions import converters
from ttrnn.conversions import kernel_size
from ttrnn.conversions import skipped_row
from ttrnn.summary import flat_layers

# Layers with fewer kernel weights are left alone when `layers` is None.
DEFAULT_MIN_PARAMS = 4096
CONV_LAYOUTS = ("channel", "kernel", "auto")


@dataclasses.dataclass
class CompressionReport:
    """Per-layer results of `compress` and the model totals.

    Attributes:
        layers: list of `LayerReport`, in model order: the layers
            `compress` converted or tried to (a `note` says why one of
            them stayed as it was).
        params_before, params_after: weights of the whole model.
        skipped: list of `LayerReport`, in model order: every layer with
            weights that the new model keeps as it was, each with the
            reason in `note` (too small for `min_params`, not named in
            `layers`, an unsupported layer type, or the conversion's own
            reason, e.g. a dim without a good TT factorisation).
    """

    layers: list
    params_before: int
    params_after: int
    # compress(data=...): {layer name: relative output error on the data
    # before any fine-tuning}; with finetune=, the distillation losses.
    output_errors: dict = None
    finetune_losses: list = None
    skipped: list = dataclasses.field(default_factory=list)

    @property
    def compression(self):
        return self.params_before / max(self.params_after, 1)

    def __getitem__(self, name):
        for row in self.layers + self.skipped:
            if row.name == name:
                return row
        raise KeyError(name)

    def __str__(self):
        head = ("layer", "before -> after", "weights", "TT", "rel. error")
        rows = [head]
        for r in self.layers:
            if r.note:
                continue  # listed with the layers left as they are
            shape = "x".join(map(str, r.tt_input_shape))
            shape += " -> " + "x".join(map(str, r.tt_output_shape))
            shape += f", r={max(r.tt_ranks)}"
            if r.tt_layout is not None:
                shape += f", {r.tt_layout} layout"
            rows.append(
                (
                    r.name,
                    f"{r.before} -> {r.after}",
                    f"{r.params_before:,} -> {r.params_after:,}",
                    shape,
                    f"{r.rel_error:.2e}",
                )
            )
        rows.append(
            (
                "model",
                "",
                f"{self.params_before:,} -> {self.params_after:,}",
                f"{self.compression:.1f}x",
                "",
            )
        )
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
            for row in rows
        ]
        if self.skipped:
            lines.append("left as they are:")
        for r in self.skipped:
            lines.append(
                f"  {r.name} ({r.before}, {r.params_before:,} weights): "
                f"{r.note}"
            )
        return "\n".join(lines)


def compress(
    model,
    max_rank=None,
    eps=None,
    max_params=None,
    layers=None,
    compression=None,
    d=None,
    min_params=DEFAULT_MIN_PARAMS,
    data=None,
    finetune=None,
    conv_layout="channel",
):
    """TT-compresses the dense kernels of a trained model.

    Returns a new model (the given one is untouched) in which each chosen
    `Dense` layer is replaced by a `TTDense` of the same name, activation
    and bias, with automatic mode shapes (`ttrnn.tt.auto_shapes`) and the
    TT-SVD of the trained kernel as cores (`ttrnn.tt.from_dense`); each
    chosen `TTDense` is TT-rounded (`TTDense.round`). All other layers are
    cloned with their weights. With no truncation (`max_rank`, `eps`,
    `max_params`, `compression` all None) the outputs are unchanged up to
    float rounding, though the exact TT-matrix of a full-rank kernel may
    hold more weights than the kernel.

    Kernel regularisers and constraints carry over and then act on every
    core (their meaning in `TTDense`). Nested Sequential and functional
    models are handled; subclassed models are not.

    Args:
        model: a built Sequential or functional Keras model.
        max_rank: None or an int capping every TT rank.
        eps: None or a float >= 0: ||W - W_tt||_F <= eps ||W||_F per layer
            (unless `max_rank` or a budget cuts deeper).
        max_params: None or the most core weights of each TT kernel.
        layers: None (every `Dense` with at least `min_params` kernel
            weights and every `TTDense`) or a list of layer names or layer
            objects to convert.
        compression: None or the least ratio dense / TT kernel weights of
            each layer (alternative to `max_params`).
        d: number of TT modes; None picks it per layer (`choose_d`).
        min_params: see `layers`. Defaults to 4096.
        data: None (plain TT-SVD of the weights) or a sample of the
            model's inputs: an array, an `(x, y)` tuple, a
            `keras.utils.PyDataset` or an iterable of batches (tf.data,
            a torch DataLoader), streamed once. Then `Dense`, `TTDense`
            and `Embedding` layers get the cores that keep their outputs
            on these inputs (input-whitened TT-SVD; embeddings weight
            each row by its token's frequency), and a `max_params` or
            `compression` budget is the total over those layers,
            allocated where it lowers the relative output error most.
            See docs/ranks.md.
        finetune: None or a number of steps of distillation (MSE to the
            original model's outputs on `data`, Adam 1e-3) after the
            data-aware compression; needs `data`.
        conv_layout: the `TTConv2D` layout of converted `Conv2D` layers:
            "channel" (default), "kernel" (TensorLy-Torch's TT of the
            kernel's own modes; channels unsplit unless `d` is given) or
            "auto": per layer the one of lower relative error within the
            same caps (the report's `tt_layout` and table say which).

    Returns:
        `(new_model, report)`: the new Keras model (not compiled) and a
        `CompressionReport` with, per converted layer, the weights before
        and after and the relative reconstruction error of the kernel;
        `print(report)` shows a table. With `layers=None`, a dense layer
        whose dims factor badly (e.g. a prime 1031) is skipped with a
        warning and a note in the report; a named one raises.

    Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((256,)),
    ...                           keras.layers.Dense(256, name="fc"),
    ...                           keras.layers.Dense(10, name="head")])
    >>> small, report = compress(model, max_rank=4)
    >>> [type(layer).__name__ for layer in small.layers]
    ['TTDense', 'Dense']
    >>> report["fc"].params_before, report["fc"].params_after
    (65792, 1152)
    """
    _check_model(model)
    options = _check_options(max_rank, eps, max_params, compression, d)
    if conv_layout not in CONV_LAYOUTS:
        raise ValueError(
            f"`conv_layout` must be one of {CONV_LAYOUTS}. "
            f"Received: conv_layout={conv_layout!r}"
        )
    options.conv_layout = conv_layout
    chosen = _choose_layers(model, layers, min_params)
    errors = None
    if finetune is not None and (
        data is None
        or isinstance(finetune, bool)
        or not isinstance(finetune, numbers.Integral)
        or finetune < 0
    ):
        raise ValueError(
            "`finetune` must be None or an int >= 0 (steps), with `data`. "
            f"Received: finetune={finetune!r}, data="
            f"{'None' if data is None else type(data).__name__}"
        )
    if data is not None:
        options, errors = _data_aware(model, chosen, data, options)
    rows, pairs = [], []

    def clone_function(layer):
        new, weights = None, None
        if id(layer) in chosen:
            convert = converter(layer)
            try:
                new, weights, row = convert(layer, options)
            except Skip as skip:
                if chosen[id(layer)]:  # named by the user
                    raise skip.error from None
                warnings.warn(
                    f"compress: layer {layer.name!r} left dense: {skip.note}",
                    stacklevel=4,
                )
                row = skipped_row(layer, skip.note)
            rows.append(row)
        if new is None:
            new = layer.__class__.from_config(layer.get_config())
            weights = layer.get_weights()
        pairs.append((new, weights))
        return new

    new_model = keras.models.clone_model(
        model, clone_function=clone_function, recursive=True
    )
    for new, weights in pairs:
        new.set_weights(weights)
    everything = flat_layers(model)
    position = {layer.name: k for k, layer in enumerate(everything)}
    rows.sort(key=lambda row: position.get(row.name, len(position)))
    tried = {row.name: row for row in rows}
    skipped = []
    for layer in everything:
        row = tried.get(layer.name)
        if row is None and id(layer) not in chosen and _weights(layer):
            row = skipped_row(layer, _why_untried(layer, layers, min_params))
        if row is not None and row.note:
            skipped.append(row)
    report = CompressionReport(
        layers=rows,
        params_before=model.count_params(),
        params_after=new_model.count_params(),
        output_errors=errors,
        skipped=skipped,
    )
    if skipped and all(row.note for row in rows):
        warnings.warn(
            "compress: every layer was left as it was (print the report "
            "for the reasons).",
            stacklevel=2,
        )
    if finetune:
        report.finetune_losses = compress_data.distill(
            new_model, model, data, finetune
        )
    return new_model, report


def _weights(layer):
    try:
        return layer.count_params()
    except ValueError:  # an unbuilt layer (Keras raises): no weights yet
        return 0


def _why_untried(layer, layers, min_params):
    """Why `compress` did not try to convert `layer`, for the report."""
    if converter(layer) is None:
        kinds = sorted({cls.__name__ for cls, _ in converters()})
        kinds = [k for k in kinds if not k.startswith("TT")]
        return (
            f"unsupported layer type {type(layer).__name__} (`compress` "
            f"converts {', '.join(kinds)} and TT layers)"
        )
    if layers is not None:
        return "not named in `layers`"
    return (
        f"too small to shrink: {kernel_size(layer):,} kernel weights, "
        f"fewer than min_params={min_params} (lower `min_params` or name "
        "it in `layers` to convert it)"
    )


def _data_aware(model, chosen, data, options):
    """Options with the data-aware cores, and the output errors."""
    layers = [
        layer
        for layer in flat_layers(model)
        if id(layer) in chosen and compress_data.is_data_aware(layer)
    ]
    stats = compress_data.collect(model, layers, data, options)
    if len(stats) < len(layers):
        left = [layer.name for layer in layers if layer.name not in stats]
        warnings.warn(
            f"compress: layers {left} get plain TT-SVD: their inputs are "
            "not reachable from the model's inputs (nested or shared).",
            stacklevel=3,
        )
    if not stats:
        return options, {}
    cores, errors = compress_data.plan(stats, options)
    return dataclasses.replace(options, cores=cores), errors


def _check_model(model):
    if not isinstance(model, keras.Model) or not (
        isinstance(model, keras.Sequential)
        or type(model).__name__ == "Functional"
        or hasattr(model, "_operations")  # Functional subclasses
    ):
        raise ValueError(
            "`model` must be a Keras Sequential or functional model. "
            f"Received: model of type {type(model).__name__}"
        )
    if not model.built:
        raise ValueError(
            "`model` must be built (give it an Input or call it on data) "
            f"before `compress`. Received: unbuilt model {model.name!r}"
        )


def _check_options(max_rank, eps, max_params, compression, d):
    if max_rank is not None and (
        isinstance(max_rank, bool)
        or not isinstance(max_rank, numbers.Integral)
        or max_rank < 1
    ):
        raise ValueError(
            f"`max_rank` must be None or an int >= 1. "
            f"Received: max_rank={max_rank!r}"
        )
    if eps is not None and not (isinstance(eps, numbers.Real) and eps >= 0):
        raise ValueError(
            f"`eps` must be None or a float >= 0. Received: eps={eps!r}"
        )
    if max_params is not None and compression is not None:
        raise ValueError(
            "Give at most one of `max_params` and `compression`. "
            f"Received: max_params={max_params}, compression={compression}"
        )
    if max_params is not None and (
        isinstance(max_params, bool)
        or not isinstance(max_params, numbers.Integral)
        or max_params < 1
    ):
        raise ValueError(
            "`max_params` must be None or an int >= 1. "
            f"Received: max_params={max_params!r}"
        )
    if compression is not None and not (
        isinstance(compression, numbers.Real) and compression > 0
    ):
        raise ValueError(
            "`compression` must be None or a number > 0. "
            f"Received: compression={compression!r}"
        )
    if d is not None and (
        isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1
    ):
        raise ValueError(f"`d` must be None or an int >= 1. Received: d={d!r}")
    return Options(
        None if max_rank is None else int(max_rank),
        eps,
        max_params,
        compression,
        d,
    )


def _choose_layers(model, layers, min_params):
    """{id(layer): named_by_user} of the layers to convert."""
    everything = flat_layers(model)
    if layers is None:
        return {
            id(layer): False
            for layer in everything
            if converter(layer) is not None
            and (
                hasattr(layer, "tt_input_shape")  # TT layers: rounded
                or kernel_size(layer) >= min_params
            )
        }
    if isinstance(layers, (str, keras.layers.Layer)):
        layers = [layers]
    chosen = {}
    by_name = {layer.name: layer for layer in everything}
    for item in layers:
        layer = by_name.get(item) if isinstance(item, str) else item
        if layer is None or all(layer is not other for other in everything):
            raise ValueError(
                "Every entry of `layers` must be a layer (or the name of "
                f"a layer) of the model; known names: {sorted(by_name)}. "
                f"Received: {item!r}"
            )
        if converter(layer) is None:
            kinds = ", ".join(cls.__name__ for cls, _ in converters())
            raise ValueError(
                f"`compress` converts only {kinds} layers. Received: layer "
                f"{layer.name!r} of type {type(layer).__name__}"
            )
        chosen[id(layer)] = True
    return chosen
