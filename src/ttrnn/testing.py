"""A test harness for Keras layers: `run_layer_test`.

The checks every layer should pass, in the style of Keras' own
`run_layer_test` (keras/src/testing/test_case.py), usable from any test
runner: it needs neither pytest nor absl, and fails with NumPy's
assertions or `AssertionError`. ttrnn's layer tests go through it; it
serves layers written outside ttrnn too (a new TT layer, for instance).
"""

import json
import os
import tempfile

import keras
import numpy as np

__all__ = ["run_layer_test"]

MIXED_PRECISION_POLICIES = ("mixed_float16", "mixed_bfloat16")


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape=None,
    input_dtype="float32",
    input_data=None,
    call_kwargs=None,
    expected_output_shape=None,
    expected_output_dtype=None,
    expected_output=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    expected_num_seed_generators=None,
    expected_num_losses=None,
    supports_masking=None,
    custom_objects=None,
    run_training_check=True,
    run_mixed_precision_check=True,
    run_saving_check=True,
    run_config_after_build_check=True,
):
    """Runs the basic checks of a layer.

    Always: the config survives `from_config(get_config())` and a JSON
    round trip through `keras.saving.serialize_keras_object` unchanged,
    and the revived layer has the same attributes (`dir()`).

    Given an input (`input_shape` or `input_data`), also:

    - `build()`: the layer is built, with the expected numbers of
      weights and seed generators, and (`run_config_after_build_check`)
      the same `get_config()` as before; the built config round-trips
      too;
    - a symbolic call on a `keras.KerasTensor` of unknown batch size and
      an eager call: output shapes as expected, as
      `compute_output_shape()` says, and alike in both calls; the same
      numbers of weights and seed generators;
    - `run_training_check`: one `fit` step of a model around the layer
      (loss: the mean square of its outputs) moves every trainable
      weight;
    - `run_mixed_precision_check`: under `"mixed_float16"` and
      `"mixed_bfloat16"` the float outputs are in the compute dtype, the
      float variables in float32, and the outputs near those of a
      float32 layer with the same weights;
    - `run_saving_check`: a model of the layer saved to a `.keras` file
      loads (given only `custom_objects`) as the same class with the
      same config and equal outputs.

    Args:
        layer_cls: The class of the layer to test.
        init_kwargs: Dict of arguments to instantiate the layer with.
        input_shape: Shape tuple, batch size included, of the input.
            Random values are drawn for the eager calls.
        input_dtype: dtype of the input drawn for `input_shape`
            (integers are drawn in [0, 3)).
        input_data: NumPy array to call the layer on, instead of
            `input_shape`.
        call_kwargs: Dict of arguments to call the layer with, besides
            the input (not tensors: the saving check calls the layer on
            a `keras.Input`).
        expected_output_shape: Shape tuple, or a list of them for a
            layer with several outputs; `None` entries match any size.
        expected_output_dtype: dtype expected of every output of the
            eager call.
        expected_output: NumPy array (or list of them) the eager call on
            `input_data` must return, to float32 precision.
        expected_num_trainable_weights: Expected length of
            `layer.trainable_weights` once built.
        expected_num_non_trainable_weights: Expected length of
            `layer.non_trainable_weights` once built.
        expected_num_seed_generators: Expected number of
            `keras.random.SeedGenerator`s once built (the layer's
            `variables` that are not `weights`: their states).
        expected_num_losses: Expected length of `layer.losses` after
            the eager call (regularisation terms and `add_loss`).
        supports_masking: If not None, the layer's `supports_masking`.
        custom_objects: Dict of the custom objects deserialisation needs
            (a layer registered with
            `keras.saving.register_keras_serializable` needs none).
        run_training_check: Whether to run the `fit` check.
        run_mixed_precision_check: Whether to run the mixed precision
            check.
        run_saving_check: Whether to run the `.keras` file check.
        run_config_after_build_check: Whether `get_config()` must be the
            same before and after `build()`, as for Keras' layers.

    Raises:
        ValueError: if the arguments contradict each other.
        AssertionError: if a check fails.

    Example:

    >>> import ttrnn
    >>> from ttrnn.testing import run_layer_test
    >>> run_layer_test(
    ...     ttrnn.TTDense,
    ...     {"tt_input_shape": (4, 6), "tt_output_shape": (2, 3),
    ...      "tt_ranks": 2},
    ...     input_shape=(3, 24),
    ...     expected_output_shape=(3, 6),
    ...     expected_num_trainable_weights=3,
    ...     expected_num_non_trainable_weights=0,
    ...     expected_num_seed_generators=0,
    ...     run_training_check=False,
    ...     run_saving_check=False,
    ... )
    """
    _check_arguments(input_shape, input_data, expected_output)
    init_kwargs = dict(init_kwargs or {})
    call_kwargs = dict(call_kwargs or {})
    name = layer_cls.__name__
    with keras.saving.custom_object_scope(custom_objects or {}):
        layer = layer_cls(**init_kwargs)
        config = _check_config_round_trip(layer, check_dir=True)
        if supports_masking is not None:
            masking = layer.supports_masking
            _assert_equal(masking, supports_masking, name, "supports_masking")
        if input_shape is None and input_data is None:
            return
        if input_data is None:
            input_data = _random_inputs(input_shape, input_dtype)
        input_data = np.asarray(input_data)
        counts = {
            "trainable_weights": expected_num_trainable_weights,
            "non_trainable_weights": expected_num_non_trainable_weights,
            "seed_generators": expected_num_seed_generators,
        }

        layer.build(input_data.shape)
        _check_counts(layer, counts, "after build()")
        if run_config_after_build_check:
            _assert_same_config(
                config, layer.get_config(), name, "build() changed get_config()"
            )
        _check_config_round_trip(layer, check_dir=False)

        symbolic_input = keras.KerasTensor(
            (None,) + input_data.shape[1:], dtype=input_data.dtype.name
        )
        layer = layer_cls(**init_kwargs)
        symbolic = _flat(layer(symbolic_input, **call_kwargs))
        _check_counts(layer, counts, "after a symbolic call")
        _check_shapes(name, "symbolic", symbolic, expected_output_shape)
        _check_compute_output_shape(layer, symbolic_input.shape, symbolic)

        layer = layer_cls(**init_kwargs)
        eager = _flat(layer(input_data, **call_kwargs))
        _check_counts(layer, counts, "after an eager call")
        _check_shapes(name, "eager", eager, expected_output_shape)
        _check_shapes(name, "eager", eager, [s.shape for s in symbolic])
        _check_outputs(layer, eager, expected_output, expected_output_dtype)
        if expected_num_losses is not None:
            _assert_equal(
                len(layer.losses), expected_num_losses, name, "len(losses)"
            )

        if run_training_check:
            _check_fit_step(layer, input_data, call_kwargs)
        if run_mixed_precision_check:
            for policy in MIXED_PRECISION_POLICIES:
                _check_mixed_precision(
                    layer_cls, init_kwargs, policy, input_data, call_kwargs
                )
        if run_saving_check:
            layer = layer_cls(**init_kwargs)
            _check_saving(layer, input_data, call_kwargs, custom_objects)


def _check_arguments(input_shape, input_data, expected_output):
    if input_shape is not None and input_data is not None:
        raise ValueError(
            "Give `input_shape` or `input_data`, not both. Received: "
            f"input_shape={input_shape}, input_data of shape "
            f"{np.shape(input_data)}"
        )
    if expected_output is not None and input_data is None:
        raise ValueError(
            "Argument `expected_output` needs `input_data`. Received: "
            "input_data=None"
        )


def _random_inputs(shape, dtype):
    if None in tuple(shape):
        raise ValueError(
            "Argument `input_shape` must have no `None` entries (the batch "
            f"size included). Received: input_shape={shape}"
        )
    rng = np.random.default_rng(0)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(0, 3, size=shape).astype(dtype)
    return (3 * rng.random(shape)).astype(dtype)


def _flat(outputs):
    return list(keras.tree.flatten(outputs))


def _to_json(config, name):
    """JSON of a config, tuples told apart from lists (as Keras does)."""

    def tag(obj):
        if isinstance(obj, (list, tuple)):
            items = [tag(e) for e in obj]
            return {"tuple": items} if isinstance(obj, tuple) else items
        if isinstance(obj, dict):
            return {key: tag(value) for key, value in obj.items()}
        return obj

    try:
        return json.dumps(tag(config), sort_keys=True)
    except TypeError as e:
        raise AssertionError(
            f"{name}: config not JSON-serialisable: {e}"
        ) from e


def _assert_same_config(expected, actual, name, message):
    before, after = _to_json(expected, name), _to_json(actual, name)
    if before != after:
        a, b = json.loads(before), json.loads(after)
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        diff = {k: (a.get(k, "<absent>"), b.get(k, "<absent>")) for k in keys}
        raise AssertionError(f"{name}: {message}. Before, after: {diff}")


def _check_config_round_trip(layer, check_dir):
    """`from_config` and a JSON round trip keep the config (and `dir`)."""
    cls, name = type(layer), type(layer).__name__
    config = layer.get_config()
    revived = cls.from_config(config)
    _assert_same_config(
        config, revived.get_config(), name, "from_config changed the config"
    )
    # As in a .keras file: plain JSON (tuples come back as lists).
    text = json.dumps(keras.saving.serialize_keras_object(layer))
    again = keras.saving.deserialize_keras_object(json.loads(text))
    _assert_equal(type(again), cls, name, "class after deserialising")
    _assert_same_config(
        config, again.get_config(), name, "a JSON round trip changed it"
    )
    attributes = set(dir(layer)) - {"__annotations__"}
    for other in (revived, again) if check_dir else ():
        extra = attributes ^ (set(dir(other)) - {"__annotations__"})
        if extra:
            raise AssertionError(
                f"{name}: the revived layer's attributes differ from the "
                f"original's: {sorted(extra)}"
            )
    return config


def _assert_equal(actual, expected, name, what):
    if actual != expected:
        raise AssertionError(
            f"{name}: unexpected {what}: {actual!r}, expected {expected!r}"
        )


def _check_counts(layer, counts, when):
    """The numbers of weights: unset ones are fixed on first use, so
    that every stage agrees with the first."""
    name = type(layer).__name__
    if not layer.built:
        raise AssertionError(f"{name}: not built {when}")
    weights = {id(w) for w in layer.weights}
    found = {
        "trainable_weights": len(layer.trainable_weights),
        "non_trainable_weights": len(layer.non_trainable_weights),
        # The states of the seed generators: variables, not weights.
        "seed_generators": sum(id(v) not in weights for v in layer.variables),
    }
    for key, value in found.items():
        counts[key] = value if counts[key] is None else counts[key]
        _assert_equal(value, counts[key], name, f"number of {key} {when}")
    params = getattr(layer, "torch_params", None)
    if keras.backend.backend() == "torch" and params is not None:
        total = sum(found.values())
        _assert_equal(len(params), total, name, f"torch_params {when}")


def _check_shapes(name, kind, outputs, expected):
    if expected is None:
        return
    expected = expected if isinstance(expected, list) else [expected]
    got = [tuple(o.shape) for o in outputs]

    def agree(a, b):
        return len(a) == len(b) and all(
            x is None or y is None or x == y for x, y in zip(a, b)
        )

    if len(got) != len(expected) or not all(map(agree, got, expected)):
        expected = [tuple(e) for e in expected]
        raise AssertionError(
            f"{name}: {kind} output shapes {got}, expected {expected}"
        )


def _check_compute_output_shape(layer, input_shape, symbolic):
    try:
        shapes = layer.compute_output_shape(input_shape)
    except NotImplementedError:
        return
    if not shapes or not isinstance(shapes[0], (list, tuple)):
        shapes = [shapes]  # one output
    shapes = list(shapes)
    name = type(layer).__name__
    _check_shapes(name, "symbolic (compute_output_shape)", symbolic, shapes)


def _check_outputs(layer, outputs, expected_output, expected_dtype):
    name = type(layer).__name__
    dtypes = [keras.backend.standardize_dtype(o.dtype) for o in outputs]
    if expected_dtype is not None and set(dtypes) != {expected_dtype}:
        _assert_equal(dtypes, [expected_dtype] * len(dtypes), name, "dtypes")
    if expected_output is not None:
        expected = _flat(expected_output)
        _assert_equal(len(outputs), len(expected), name, "number of outputs")
        for got, want in zip(outputs, expected):
            np.testing.assert_allclose(
                _numpy(got), want, 1e-5, 1e-6, err_msg=f"{name}: outputs"
            )


def _numpy(x):
    return np.array(keras.ops.convert_to_numpy(x))


class _LayerModel(keras.Model):
    """One layer, and one number a sample: the mean square of its float
    outputs."""

    def __init__(self, layer, call_kwargs):
        super().__init__(name="layer_test_model")
        self.layer = layer
        self.call_kwargs = call_kwargs

    def call(self, inputs, training=False):
        outputs = self.layer(inputs, training=training, **self.call_kwargs)
        total = 0.0
        for out in _flat(outputs):
            out = keras.ops.cast(out, "float32")
            out = keras.ops.reshape(out, (keras.ops.shape(out)[0], -1))
            total = total + keras.ops.mean(keras.ops.square(out), axis=1)
        return total


def _check_fit_step(layer, input_data, call_kwargs):
    model = _LayerModel(layer, call_kwargs)
    before = [_numpy(w) for w in layer.trainable_weights]
    model.compile(
        keras.optimizers.SGD(0.1), lambda _, y_pred: keras.ops.mean(y_pred)
    )
    targets = np.zeros((len(input_data),), "float32")
    model.fit(input_data, targets, batch_size=len(input_data), verbose=0)
    still = [
        w.path
        for w, b in zip(layer.trainable_weights, before)
        if np.array_equal(_numpy(w), b)
    ]
    if still:
        raise AssertionError(
            f"{type(layer).__name__}: one fit step left weights unchanged: "
            f"{still}"
        )


def _check_mixed_precision(layer_cls, init_kwargs, policy, x, call_kwargs):
    name = f"{layer_cls.__name__} ({policy})"
    layer = layer_cls(**{**init_kwargs, "dtype": policy})
    outputs = _flat(layer(x, **call_kwargs))
    compute_dtype = keras.dtype_policies.get(policy).compute_dtype
    for out in outputs:
        dtype = keras.backend.standardize_dtype(out.dtype)
        if keras.backend.is_float_dtype(dtype):
            _assert_equal(dtype, compute_dtype, name, "output dtype")
    for weight in layer.weights:
        dtype = keras.backend.standardize_dtype(weight.dtype)
        if keras.backend.is_float_dtype(dtype):
            _assert_equal(dtype, "float32", name, f"dtype of {weight.path}")
    reference = layer_cls(**init_kwargs)
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    for got, want in zip(outputs, _flat(reference(x, **call_kwargs))):
        got, want = _numpy(keras.ops.cast(got, "float32")), _numpy(want)
        atol = 0.05 * np.abs(want).max() + 1e-6
        np.testing.assert_allclose(
            got, want, 0.05, atol, err_msg=f"{name}: far from float32"
        )


def _check_saving(layer, x, call_kwargs, custom_objects):
    name = type(layer).__name__
    inputs = keras.Input(x.shape[1:], dtype=x.dtype.name)
    model = keras.Model(inputs, layer(inputs, **call_kwargs))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, custom_objects=custom_objects)
    again = loaded.layers[-1]
    _assert_equal(type(again), type(layer), name, "class after loading")
    _assert_same_config(
        layer.get_config(), again.get_config(), name, "saving changed it"
    )
    for got, want in zip(_flat(loaded(x)), _flat(model(x))):
        np.testing.assert_allclose(
            _numpy(got), _numpy(want), 1e-6, 1e-6, err_msg=f"{name}: loaded"
        )
