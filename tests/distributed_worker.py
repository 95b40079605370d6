"""A process of the distributed tests (tests/test_distribution.py).

    python tests/distributed_worker.py JOB.json

JOB.json holds `{"runs": [argv, ...], "out": PATH, "checks": bool}`:
each argv is run by `ttrnn.cli.main` in turn (an argv of several
processes carries its `--coordinator`, `--num-processes` and
`--process-id`); the exit statuses go to PATH as JSON, with, if
`checks`, the results of `layer_checks` (two devices or more).
XLA_FLAGS (virtual CPU devices) must be set by the caller, before JAX
starts.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import ttrnn  # noqa: E402,F401  (before keras: chooses the backend)
from ttrnn import cli  # noqa: E402


def main(path):
    with open(path, encoding="utf-8") as file:
        job = json.load(file)
    report = {"statuses": [cli.main(argv) for argv in job["runs"]]}
    if job.get("checks"):
        report.update(layer_checks())
    with open(job["out"], "w", encoding="utf-8") as file:
        json.dump(report, file)
    return 0


def layer_checks():
    """TTDense and TT-GRU models fitted on one device and DataParallel
    over two (TTDense with the planner's `measure` strategy), TTDense
    with ModelParallel and `ttrnn.distribution.layout_map`: the losses
    and weights, and the batch sizes the planner planned for."""
    import keras
    import numpy as np

    from ttrnn import distribution
    from ttrnn.tt.contraction import contract
    from ttrnn.tt.contraction import cost
    from ttrnn.tt.contraction import measure

    planned = []

    def spy(module, name, label):
        real = getattr(module, name)

        def wrapper(in_shape, out_shape, ranks, batch, *args, **kwargs):
            planned.append([label, batch])
            return real(in_shape, out_shape, ranks, batch, *args, **kwargs)

        setattr(module, name, wrapper)

    spy(cost, "modelled_plan", "auto")
    spy(measure, "measured_plan", "measure")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3, 24)).astype("float32")
    y = rng.integers(0, 3, 16)

    def fit(kind, dist=None, strategy="auto"):
        keras.distribution.set_distribution(None)
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        if dist == "model":  # the layout of a built model's weights
            mesh = keras.distribution.DeviceMesh((2,), ["batch"])
            dist = distribution.model_parallel(build(kind, strategy), mesh)
            keras.backend.clear_session()
            keras.utils.set_random_seed(0)
        keras.distribution.set_distribution(dist)
        model = build(kind, strategy)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        contract.clear_cache()
        planned.clear()
        inputs = x[:, 0] if kind == "dense" else x
        history = model.fit(
            inputs, y, batch_size=8, epochs=2, shuffle=False, verbose=0
        )
        weights = [np.asarray(w) for w in model.get_weights()]
        keras.distribution.set_distribution(None)
        return history.history["loss"], weights, list(planned)

    def build(kind, strategy):
        tt = dict(tt_input_shape=(2, 3, 4), tt_output_shape=(2, 2, 2))
        if kind == "dense":
            layer = ttrnn.layers.TTDense(
                tt_ranks=2, tt_strategy=strategy, name="tt", **tt
            )
            shape = (24,)
        else:
            layer = ttrnn.layers.TTGRU(
                tt_ranks=2, dropout=0.25, name="tt", **tt
            )
            shape = (3, 24)
        return keras.Sequential(
            [keras.Input(shape), layer, keras.layers.Dense(3, name="out")]
        )

    report = {}
    for kind in ("dense", "gru"):
        strategy = "measure" if kind == "dense" else "auto"
        loss, weights, plans = fit(kind, strategy=strategy)
        cases = [("data", distribution.data_parallel(2))]
        if kind == "dense":  # cores replicated by layout_map
            cases.append(("model", "model"))
        for name, dist in cases:
            other, other_weights, other_plans = fit(kind, dist, strategy)
            report[f"{kind}_{name}"] = {
                "loss": float(np.max(np.abs(np.subtract(loss, other)))),
                "weights": max(
                    float(np.max(np.abs(a - b)))
                    for a, b in zip(weights, other_weights)
                ),
                "planned": other_plans,
                "planned_alone": plans,
            }
    mesh = keras.distribution.DeviceMesh((2,), ["batch"])
    model = build("dense", "auto")
    report["layout_map"] = {
        key: list(layout.axes)
        for key, layout in distribution.layout_map(model, mesh).items()
    }
    return report


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
