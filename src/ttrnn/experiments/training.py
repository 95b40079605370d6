"""Training one experiment's splits: array data or video clips.

`run_arrays` (feed-forward and sequence experiments: one official split)
and `run_video` (video: cross-validation folds or the official split, in
the fast or the paper protocol) build the model, choose the learning rate
(a sweep if asked), train with a checkpoint every epoch and score the test
split. `run.run_experiment` calls them with a `RunConfig` and writes the
results: the settings, and what the run found (the dict each returns).
"""

import functools
import os

import keras
import numpy as np

from ttrnn.experiments import checkpointing
from ttrnn.experiments import datasets
from ttrnn.experiments import metrics
from ttrnn.experiments import models
from ttrnn.experiments import parallel
from ttrnn.experiments import rank_budget
from ttrnn.experiments import relevance_plots
from ttrnn.experiments import resumed_settings
from ttrnn.experiments import rundir
from ttrnn.experiments.splits import video_splits

# `learning_rate="sweep"`: epochs of each trial run (the candidates are
# `run_config.SWEEP_RATES`).
SWEEP_EPOCHS = 2

CURVE_METRIC = {
    "multiclass": "accuracy",
    "binary": "accuracy",
    "multilabel": "auprc",
    "regression": "mse",
}


def default_cache_dir():
    """Where decoded frames are cached: `$TTRNN_CACHE_DIR` or
    `~/.cache/ttrnn/frames`."""
    return os.environ.get("TTRNN_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "ttrnn", "frames"
    )


def compile_model(model, loss, experiment, learning_rate):
    curve = CURVE_METRIC[experiment.task]
    if curve == "auprc":
        metric = keras.metrics.AUC(curve="PR", multi_label=True, name=curve)
    else:
        metric = curve
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss,
        # Weighted: bucketed batches give dummy rows weight 0.
        weighted_metrics=[metric],
    )
    return model


def run_arrays(experiment, config):
    """Trains and scores a feed-forward or sequence experiment.

    Args:
        experiment: the `Experiment` (`config.experiment_settings`).
        config: the run's `RunConfig`, resolved.

    Returns:
        `(splits, found)`: `[("official", model, state, scores)]`, and a
        dict of what the run found (data source, split sizes, rates).
    """
    arrays = datasets.load_arrays(
        experiment, config.data_dir, config.seed, dataset=config.dataset
    )
    found = {"source": arrays["source"]}
    found["split"] = arrays.get("split", experiment.split)
    if experiment.kind == "feedforward":
        found.update(l2=experiment.l2, tt_l2=experiment.tt_l2)
    found["train_size"] = len(arrays["x_train"])
    found["test_size"] = len(arrays["x_test"])

    def build(rate):
        if experiment.kind == "sequence":
            model, loss = models.build_recurrent(
                experiment,
                config.model,
                experiment.input_dim,
                arrays["outputs"],
                tt_ranks=config.tt_ranks,
                masking=experiment.masking,
                dropout=config.dropout,
                recurrent_dropout=config.recurrent_dropout,
                input_precision=config.input_precision or "float32",
            )
        else:
            model, loss = models.build_feedforward(
                experiment,
                config.model,
                arrays["outputs"],
                config.tt_ranks,
                input_precision=config.input_precision or "float32",
            )
        return compile_model(model, loss, experiment, rate)

    train = (arrays["x_train"], arrays["y_train"])
    validation = (arrays["x_test"], arrays["y_test"])
    if experiment.validation_split:
        # The last rows, as Keras' `fit(validation_split=...)`.
        x, y = train
        cut = int(len(x) * (1 - experiment.validation_split))
        train, validation = (x[:cut], y[:cut]), (x[cut:], y[cut:])
        found["train_size"] = cut
        found["validation_size"] = len(x) - cut
    # One data path, on one device or several (and in the learning rate
    # sweep): the order is a function of (seed, epoch); under a
    # distribution each process feeds its rows of every global batch.
    train = parallel.as_batches(
        train, config.batch_size, shuffle=True, seed=config.seed
    )
    validation = parallel.as_batches(validation, config.batch_size)
    stopping = None
    if experiment.stop_patience:
        stopping = checkpointing.WorseEpochStopping(
            experiment.stop_patience, experiment.stop_tolerance
        )
        found["early_stopping"] = {
            "patience": experiment.stop_patience,
            "tolerance": experiment.stop_tolerance,
            "monitor": stopping.monitor,
        }
    begin_training(config)
    model, state = _fit(
        config,
        found,
        "official",
        build,
        train,
        validation,
        config.out,
        batch_size=config.batch_size,
        early_stopping=stopping,
    )
    model = parallel.local_copy(model)  # scored on this process alone
    with parallel.no_distribution():
        y_pred = model.predict(arrays["x_test"], batch_size=256, verbose=0)
        scores = metrics.evaluate(experiment.task, arrays["y_test"], y_pred)
        if experiment.explain:
            plot_path = None
            if config.plot and parallel.is_chief():
                plot_path = os.path.join(config.out, "relevance.png")
            scores.update(
                relevance_plots.relevance_scores(
                    model,
                    arrays["x_test"],
                    arrays["step_labels_test"],
                    plot_path=plot_path,
                )
            )
    return [("official", model, state, scores)], found


def run_video(experiment, config):
    """Trains and scores a video experiment, split by split (see
    `run_arrays`; a cross-validated run has a split a fold)."""
    from ttrnn import data

    dataset = datasets.load_video(experiment, config.data_dir)
    cache = data.FrameCache(
        config.cache_dir or default_cache_dir(),
        frame_shape=config.frame_shape,
        every=experiment.every,
        max_frames=experiment.max_frames,
    )
    verbose = config.verbose
    missing = sum(not _cached(cache, clip) for clip in dataset.clips)
    if verbose and missing:
        print(f"Decoding {missing} clips into {cache.cache_dir} ...")
    # A progress bar on a terminal, one line at the end in a log file.
    dataset, details = cache.prepare(
        dataset,
        verbose=checkpointing.fit_verbosity(1) if verbose else 0,
        return_details=True,
    )
    found = {"clips": len(dataset)}
    # By name, with the reason: the warnings scroll by, the results stay.
    found["skipped_clips"] = details["skipped"]
    found["truncated_clips"] = details["truncated"]
    if verbose:
        for kind, clips in details.items():
            if clips:
                names = ", ".join(os.path.basename(c) for c in clips)
                print(f"{kind} {len(clips)} clip(s): {names}")
    outputs = 1 if experiment.task == "binary" else dataset.num_classes
    height, width = config.frame_shape
    input_dim = height * width * 3
    splits = video_splits(experiment, dataset, config.folds, config.seed)
    paper = config.protocol == "paper"
    begin_training(config)
    results = []
    for label, train_idx, test_idx in splits:
        run_dir = config.out
        if len(splits) > 1:
            run_dir = os.path.join(config.out, label)
        # The last clips of the training split validate (Keras'
        # `validation_split`, Hollywood2 2017); else the test clips do.
        train_idx, validation_idx = _held_out(
            train_idx, experiment.validation_split
        )
        found["train_clips"] = len(train_idx)
        found["test_clips"] = len(test_idx)
        found.setdefault("split_clips", {})[label] = {
            "train": len(train_idx),
            "test": len(test_idx),
        }
        # Raw uint8 frames all the way to the model, which centres and
        # scales them itself (in the TT map's time chunks); the paper
        # protocol pads to length buckets and passes the padding mask.
        sequence_args = dict(
            batch_size=config.batch_size,
            num_frames=config.num_frames,
            dtype="uint8",
            return_mask=paper,
            verbose=0,
        )
        if paper:
            sequence_args["buckets"] = config.buckets
            sequence_args["max_batch_frames"] = config.max_batch_frames
        sequence = functools.partial(
            data.VideoSequence, cache=cache, **sequence_args
        )
        # Under a distribution each process reads its rows of a batch.
        shards = parallel.data_options()
        train = sequence(
            dataset.subset(train_idx), shuffle=True, seed=config.seed, **shards
        )
        test = sequence(dataset.subset(test_idx), shuffle=False, **shards)
        validation = test
        if validation_idx is not None:
            found["validation_clips"] = len(validation_idx)
            validation = sequence(
                dataset.subset(validation_idx), shuffle=False, **shards
            )
        if paper:
            padding = found.setdefault("padding_overhead", {})
            padding[label] = {
                "train": round(train.padding_overhead, 4),
                "test": round(test.padding_overhead, 4),
                "train_buckets": list(train.buckets),
                "test_buckets": list(test.buckets),
            }
            if verbose:
                print(
                    f"{label}: {len(train.buckets)} length buckets "
                    f"{list(train.buckets)}; padded / real frames "
                    f"{train.padding_overhead:.2f} (train), "
                    f"{test.padding_overhead:.2f} (test)"
                )

        def build(rate):
            model, loss = models.build_recurrent(
                experiment,
                config.model,
                input_dim,
                outputs,
                tt_input_shape=config.tt_input_shape,
                tt_ranks=config.tt_ranks,
                masking=paper,
                dropout=config.dropout,
                recurrent_dropout=config.recurrent_dropout,
                input_precision=config.input_precision or "float32",
                pixels=(128.0, config.pixel_scale),
            )
            return compile_model(model, loss, experiment, rate)

        if verbose and len(splits) > 1:
            print(f"--- {experiment.name} {config.model}: {label} ---")
        model, state = _fit(
            config, found, label, build, train, validation, run_dir
        )
        if shards:  # scored on this process alone, on whole batches
            model = parallel.local_copy(model)
            test = sequence(dataset.subset(test_idx), shuffle=False)
        with parallel.no_distribution():
            y_pred = predict_clips(model, test)
        scores = metrics.evaluate(experiment.task, test.dataset.labels, y_pred)
        results.append((label, model, state, scores))
    return results, found


def _fit(config, found, label, build, train, validation, run_dir, **options):
    """`checkpointing.fit_with_checkpoints` with the run's settings; records the
    learning rate used in `found`."""
    model, state = checkpointing.fit_with_checkpoints(
        _rate_chosen(build, train, config, found, label),
        train,
        validation,
        run_dir=run_dir,
        epochs=config.epochs,
        resume=config.resume,
        overwrite=config.overwrite,
        seed=config.seed,
        verbose=config.verbose,
        callbacks=[
            resumed_settings.SettingsRecord(
                resumed_settings.settings_of(config)
            ),
            *rank_budget.rank_callbacks(config, found, run_dir, label),
        ],
        **options,
    )
    _record_rate(config, found, label, model)
    return model, state


def begin_training(config):
    """The data is ready and training begins: `--overwrite` now deletes
    the earlier run's files (`rundir.clear_outputs`), not before (a run
    that stops at its data keeps the earlier one)."""
    if config.overwrite:
        rundir.clear_outputs(config.out)


def _held_out(indices, fraction):
    """`(train, validation)`: the last `fraction` of `indices` validate
    (`None` when `fraction` is 0)."""
    if not fraction:
        return indices, None
    cut = int(len(indices) * (1 - fraction))
    return indices[:cut], indices[cut:]


def predict_clips(model, sequence):
    """Predictions for the clips of a `VideoSequence`, in dataset order.

    Bucketed batches come in bucket order with dummy rows; this puts each
    clip's prediction back at its index and drops the dummies.
    """
    y_pred = model.predict(sequence, verbose=0)
    members = np.concatenate(
        [sequence.members(i) for i in range(len(sequence))]
    )
    real = members >= 0
    ordered = np.empty((len(sequence.dataset),) + y_pred.shape[1:])
    ordered[members[real]] = y_pred[real]
    return ordered


def _rate_chosen(build, train, config, found, label):
    """`build` with the configured learning rate bound. A sweep, if asked,
    runs once, on the first split's training data, when its model is
    built afresh (not on resume); later splits reuse its choice (kept in
    `found`)."""
    rate = config.learning_rate

    def build_model():
        if not config.sweeps_learning_rate:
            return build(rate)
        sweep = found.get("learning_rate_sweep")
        if sweep is None:
            chosen, losses = checkpointing.sweep_learning_rate(
                build,
                train,
                rate,
                epochs=SWEEP_EPOCHS,
                seed=config.seed,
            )
            sweep = found["learning_rate_sweep"] = {
                "split": label,
                "epochs": SWEEP_EPOCHS,
                "training_loss": {f"{r:g}": v for r, v in losses.items()},
                "chosen": chosen,
            }
            if config.verbose:
                tried = ", ".join(f"{r:g}: {v:.3g}" for r, v in losses.items())
                print(
                    f"learning rate {chosen:g}, the lowest training loss "
                    f"after {SWEEP_EPOCHS} epochs on {label}'s training "
                    f"clips ({tried})"
                )
        return build(sweep["chosen"])

    return build_model


def _record_rate(config, found, label, model):
    rate = config.learning_rate
    if config.sweeps_learning_rate:
        sweep = found.get("learning_rate_sweep")
        if sweep is not None:
            rate = sweep["chosen"]
        else:  # resumed: the rate is in the restored optimiser (float32)
            stored = keras.ops.convert_to_numpy(model.optimizer.learning_rate)
            rate = float(f"{float(stored):.6g}")
    found.setdefault("learning_rates", {})[label] = rate


def _cached(cache, clip):
    try:
        return cache.contains(clip)
    except OSError:  # a vanished file: prepare() reports and skips it
        return True
