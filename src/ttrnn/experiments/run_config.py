"""The settings of one run of an experiment, filled in and checked once.

`RunConfig.resolve(name, model, **settings)` takes what a caller asked
for (`ttrnn experiment`'s options, `run_experiment`'s keywords), fills
every setting left out with its default (the experiment's, where it has
one) and checks them all before any data is read. Training reads the
result's attributes; `to_dict` is the `config` of `results.json` (with
what the run found on the way: sizes, sources, the rates used), and
`from_dict` reads it back, from the runs of this version and earlier.
"""

import dataclasses
import math
import numbers
import os

from ttrnn.experiments import registry
from ttrnn.experiments import settings
from ttrnn.experiments.registry import ExperimentError

# `learning_rate="sweep"`: the candidates.
SWEEP_RATES = (1e-2, 1e-3, 1e-4, 1e-5)
# Video: frames a clip in the fast protocol.
NUM_FRAMES = 16
# Paper protocol: the most length buckets, per backend (benchmarks/
# bench_buckets.py, RESULTS.md "Length buckets per backend"). Padded
# frames cost every epoch: a 1,280-clip set of UCF11's lengths pads 1.17
# with 8 buckets, 1.06 with 24, 1.05 with 32. JAX compiles a train and a
# test graph per bucket shape (about 5 + 1.6 CPU seconds and 21 MB of
# memory each pair, once a fold), so it stops at 24; TensorFlow's graph
# takes any length and torch runs eagerly, so only the batches' variety
# limits them: at 32, 20-30 % of the pairs of clips in one batch share
# a batch again the next epoch (6-9 % at 8, 1 % in random batches).
BUCKETS = 8
PAPER_BUCKETS = {"jax": 24, "tensorflow": 32, "torch": 32}
# Paper protocol: the most padded frames a batch, per backend (at UCF11's
# length distribution the batches of clips over 256 or 512 frames hold
# fewer clips). bench_epoch.py (200 clips, 4 of 1,492 frames, one thread,
# 3 Dec 2026), frames/s and peak RSS: JAX 8,192 about 3,250 and 4.05 GiB,
# 4,096 3,187 and 3.54 GiB (XLA's temporaries grow with the batch);
# TensorFlow 8,192 1,603 and 3.60 GiB, 4,096 1,349 and 3.20; torch 8,192
# 1,753 and 2.37 GiB, 4,096 1,520 and 2.46.
PAPER_MAX_BATCH_FRAMES = {
    "jax": 16 * 256,
    "tensorflow": 16 * 512,
    "torch": 16 * 512,
}
# results.json's `config` records the fields before `out`, in their
# order; a video run's alone, those of the video paper protocol alone.
_VIDEO = ("frame_shape", "num_frames", "tt_input_shape", "folds")
_VIDEO += ("pixel_scale",)
_PAPER_VIDEO = ("buckets", "max_batch_frames")
# Filled by `resolve`, never asked for.
_DERIVED = ("experiment", "backend", "topology", "pixel_scale")


def default_max_batch_frames(backend=None):
    """The paper protocol's default frame budget a batch on `backend`
    (`None`: Keras' backend) from `PAPER_MAX_BATCH_FRAMES`; 8,192 on a
    backend not listed."""
    if backend is None:
        import keras

        backend = keras.backend.backend()
    return PAPER_MAX_BATCH_FRAMES.get(backend, 16 * 512)


def default_buckets(backend=None):
    """The paper protocol's default number of length buckets on
    `backend` (`None`: Keras' backend) from `PAPER_BUCKETS`; `BUCKETS`
    (8) on a backend not listed."""
    if backend is None:
        import keras

        backend = keras.backend.backend()
    return PAPER_BUCKETS.get(backend, BUCKETS)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One run's settings. `resolve` fills them in and checks them.

    Args:
        experiment: the experiment's name (an alias's base name).
        model: one of the experiment's models; `None` for its default,
            the first of `Experiment.models` (the TT model).
        protocol: one of `registry.PROTOCOLS` that the experiment runs;
            `None` for its default. Video: `"fast"` (the default:
            `num_frames` frames sampled over each clip) or `"paper"`
            (every frame, zero pre-padding and masking). Others:
            `"paper"` (the default: the 2017 settings) or, for the
            experiments with tuned settings (`registry.tuned_names()`),
            `"tuned"`.
        epochs: number of epochs; `None` for the experiment's.
        batch_size: `None` for the experiment's.
        learning_rate: a float; `None` for the experiment's; `"sweep"`
            (or several candidate rates) to pick the candidate (default
            `SWEEP_RATES`) whose short trial run on the first split's
            training data ends with the lowest training loss
            (`checkpointing.sweep_learning_rate`), for all splits. The rates
            used are in the results' `config.learning_rates`, the trials
            in `config.learning_rate_sweep`. Resolved: a float, or a
            tuple of candidates.
        tt_ranks: TT ranks (one int or d + 1 ints); `None` for the
            experiment's (`Experiment.ranks`).
        dropout: input dropout of the recurrent models. `None` for the
            experiment's (`Experiment.dropout_for`: in the paper protocol
            0 for the TT-RNNs, whose 2017 code applied none, 0.25 for the
            plain ones; mnist-seq 0).
        recurrent_dropout: their recurrent dropout. `None` for the
            experiment's (0.25; mnist-seq 0.5).
        seed: random seed. Defaults to 0.
        data_dir: the dataset directory; `None` for the default (see
            `datasets.default_data_dir`; else fetched on first use).
        backend: the Keras backend that runs it (filled in).
        topology: its devices and processes (filled in:
            `ttrnn.distribution.topology`).
        dataset: mnist and mnist-seq: "mnist" (`None`, as in 2017) or
            "fashion-mnist" (`datasets.IMAGE_DATASETS`).
        frame_shape: video: `(height, width)` of the frames; `None` for
            the dataset's (e.g. 120x160).
        num_frames: video, fast protocol: frames a clip; `None` for
            `NUM_FRAMES` (16).
        tt_input_shape: video: TT input modes of the frames; `None` takes
            the experiment's, or factorises the frame size.
        folds: video: cross-validation folds to run (ints); `None` for
            the experiment's (`Experiment.folds`; all five if none).
            Refused (ExperimentError) for a run on an official split
            (e.g. hmdb51's fast protocol).
        pixel_scale: video: the factor on `pixel - 128` (filled in from
            the protocol: `settings.pixel_scale`).
        buckets: video, paper protocol: the most length buckets a
            split's clips are padded to (`ttrnn.data.bucket_lengths`): at
            most one compiled graph per bucket on JAX. `None` for the
            backend's (`PAPER_BUCKETS`): 24 on JAX, 32 on TensorFlow and
            torch, whose graphs do not depend on the length.
        max_batch_frames: video, paper protocol: the most padded frames
            in a batch; the batches of longer buckets hold fewer clips
            (`ttrnn.data.bucket_rows`), which bounds the memory of the
            longest clips' batches. `None` for `batch_size` clips in
            every batch. Defaults to `"auto"`: 4,096 on JAX (16 clips of
            256 frames; XLA's temporaries grow with the batch), 8,192 on
            TensorFlow and torch (`PAPER_MAX_BATCH_FRAMES`).
        rank_budget: `None`, or `{"target_params": P}` or
            `{"target_compression": X}`: rank-adaptive training toward it
            (`ttrnn.callbacks.RankAdaptation`); results.json then records
            the truncations under "rank_schedule".
        input_precision: "float32" (None) or "bfloat16": the TT layers'.
        out: output directory; `None` for `runs/<name>-<model>`
            (`runs/<name>-tuned-<model>` in the tuned protocol).
        resume: continue a killed run from its last finished epoch.
        overwrite: discard an earlier run in `out`.
        verbose: 0 silent, 1 progress bars, 2 one line an epoch.
        plot: write `curves.png` and `weights.png`.
        cache_dir: decoded-frame cache; `None` for
            `training.default_cache_dir()`.
        compare_paper: print the 2017 paper's figure beside the result
            (turn off on data other than the real dataset; always off on
            Fashion-MNIST).
    """

    experiment: str
    model: str = None
    protocol: str = None
    epochs: int = None
    batch_size: int = None
    learning_rate: object = None
    tt_ranks: object = None
    dropout: float = None
    recurrent_dropout: float = None
    seed: int = 0
    data_dir: str = None
    backend: str = None
    topology: dict = None
    dataset: str = None
    frame_shape: tuple = None
    num_frames: int = None
    tt_input_shape: tuple = None
    folds: tuple = None
    pixel_scale: float = None
    buckets: int = None
    max_batch_frames: object = "auto"
    rank_budget: dict = None
    input_precision: str = None
    # How the run goes; results.json does not record these.
    out: str = None
    resume: bool = False
    overwrite: bool = False
    verbose: int = 1
    plot: bool = True
    cache_dir: str = None
    compare_paper: bool = True

    @classmethod
    def resolve(cls, name, model=None, **settings):
        """The settings of a run of `name`, filled in and checked.

        Args:
            name: experiment name (see `registry.names()`), or an alias
                such as `"madelon-tuned"` (`registry.ALIASES`).
            model: one of the experiment's models; `None` for its
                default.
            **settings: any other field (`epochs`, `protocol`, `out`,
                ...); those left out take their defaults.

        Returns:
            A `RunConfig` with every setting filled in.

        Raises:
            TypeError: for a keyword that is not a setting.
            ExperimentError: for an unknown experiment, protocol, model
                or data set, TT ranks or input modes that do not fit the
                model, or a bad learning rate or frame budget.
        """
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise TypeError(
                f"Unexpected setting(s) {unknown}. Expected some of "
                f"{list(SETTINGS)}."
            )
        asked = cls(name, model, **settings)
        label = registry.run_label(name, asked.protocol)
        experiment, protocol = registry.resolve(name, asked.protocol)
        model = model or experiment.models[0]
        experiment.check_model(model, asked.tt_ranks, asked.tt_input_shape)
        dropout = asked.dropout
        recurrent = asked.recurrent_dropout
        filled = dict(
            experiment=experiment.name,
            model=model,
            protocol=protocol,
            epochs=int(asked.epochs or experiment.epochs),
            batch_size=int(asked.batch_size or experiment.batch_size),
            learning_rate=_learning_rate(asked.learning_rate, experiment),
            tt_ranks=_listed(experiment.ranks(asked.tt_ranks, model)),
            dropout=float(
                experiment.dropout_for(model) if dropout is None else dropout
            ),
            recurrent_dropout=float(
                experiment.recurrent_dropout if recurrent is None else recurrent
            ),
            seed=int(asked.seed),
            input_precision=_input_precision(asked.input_precision),
            data_dir=asked.data_dir and os.fspath(asked.data_dir),
            backend=_backend(),
            topology=_topology(),
            dataset=_image_dataset(experiment, asked.dataset),
            out=os.path.join("runs", f"{label}-{model}")
            if asked.out is None
            else asked.out,
        )
        filled.update(_video(experiment, protocol, asked))
        if filled["dataset"] == "fashion-mnist":
            # The 2017 figures are MNIST's, not Fashion-MNIST's.
            filled["compare_paper"] = False
        return dataclasses.replace(asked, **filled)

    @classmethod
    def from_dict(cls, config):
        """The settings recorded in a results.json `config` (of this
        version or an earlier one); what the run found is left out.

        Args:
            config: the dict; it must name the experiment.

        Raises:
            ExperimentError: if `config` names no experiment.
        """
        if "experiment" not in config:
            raise ExperimentError(
                "A run's configuration names its experiment. Received: "
                f"keys {sorted(config)}"
            )
        given = {k: _frozen(config[k]) for k in RECORDED if k in config}
        return cls(**given)

    def to_dict(self):
        """The settings as results.json's `config` records them: every
        run's, a video run's, the paper protocol's (lists for tuples)."""
        left_out = set()
        if self.dataset is None:
            left_out.add("dataset")
        if self.frame_shape is None:
            left_out.update(_VIDEO + _PAPER_VIDEO)
        if self.buckets is None:
            left_out.update(_PAPER_VIDEO)
        if self.rank_budget is None:
            left_out.add("rank_budget")
        if self.input_precision in (None, "float32"):  # as before
            left_out.add("input_precision")
        return {
            name: _jsonable(getattr(self, name))
            for name in RECORDED
            if name not in left_out
        }

    @property
    def experiment_settings(self):
        """The `Experiment` this run runs, as its protocol sets it."""
        return registry.resolve(self.experiment, self.protocol)[0]

    @property
    def sweeps_learning_rate(self):
        """Whether the learning rate is chosen by a sweep."""
        return isinstance(self.learning_rate, tuple)


_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))
# What results.json records; what a caller may set.
RECORDED = _FIELDS[: _FIELDS.index("out")]
SETTINGS = tuple(n for n in _FIELDS if n not in _DERIVED + ("model",))


def _input_precision(value):
    from ttrnn.tt.contraction import precision  # Keras: after the CLI's

    return precision.validate(value or "float32", ExperimentError)


def _video(experiment, protocol, asked):
    """The video settings, filled in (`None` for other experiments)."""
    if experiment.kind != "video":
        if asked.folds is not None:
            raise ExperimentError(
                f"Argument `folds`: {experiment.name} has no cross-"
                f"validation folds; {_folded()} take it. Received: "
                f"folds={list(asked.folds)}"
            )
        return dict.fromkeys(_VIDEO + _PAPER_VIDEO)
    frame_shape = tuple(asked.frame_shape or experiment.frame_shape)
    modes = asked.tt_input_shape
    if modes is not None:
        from ttrnn.experiments import models

        height, width = frame_shape
        modes = models.tt_input_modes(experiment, height * width * 3, modes)
    if asked.folds is not None and not experiment.cross_validated:
        name = experiment.name
        folded = [
            p
            for p in registry.get(name).protocols
            if registry.resolve(name, p)[0].cross_validated
        ]
        hint = f" or use --protocol {folded[0]}" if folded else ""
        raise ExperimentError(
            f"Argument `folds`: {name} under the {protocol} protocol trains "
            "and tests on its official split, not on cross-validation "
            f"folds; drop it{hint}. Received: folds={list(asked.folds)}"
        )
    folds = experiment.folds if asked.folds is None else asked.folds
    paper = protocol == "paper"
    frames = NUM_FRAMES if asked.num_frames is None else asked.num_frames
    buckets = asked.buckets
    if paper and buckets is None:
        buckets = default_buckets()
    return dict(
        frame_shape=tuple(int(n) for n in frame_shape),
        num_frames=None if paper else int(frames),
        tt_input_shape=None if modes is None else tuple(int(m) for m in modes),
        folds=None if folds is None else tuple(int(f) for f in folds),
        pixel_scale=settings.pixel_scale(protocol),
        buckets=int(buckets) if paper else None,
        max_batch_frames=_max_batch_frames(asked.max_batch_frames)
        if paper
        else None,
    )


def _folded():
    """The experiments that run cross-validation folds, in words: e.g.
    "ucf11, youtube-celebrities and hmdb51 (--protocol paper)"."""
    named = []
    for name in registry.names():
        protocols = registry.get(name).protocols
        folded = [
            p for p in protocols if registry.resolve(name, p)[0].cross_validated
        ]
        if folded and len(folded) < len(protocols):
            name += f" (--protocol {', '.join(folded)})"
        if folded:
            named.append(name)
    return ", ".join(named[:-1]) + " and " + named[-1]


def _learning_rate(learning_rate, experiment):
    """A float, or the tuple of candidates of a sweep."""
    if learning_rate is None:
        return float(experiment.learning_rate)
    candidates = SWEEP_RATES if learning_rate == "sweep" else learning_rate
    several = isinstance(candidates, (list, tuple))
    rates = list(candidates) if several else [candidates]
    for rate in rates:
        if (
            isinstance(rate, (bool, str))
            or not isinstance(rate, numbers.Real)
            or not 0 < rate < math.inf
        ):
            raise ExperimentError(
                "Argument `learning_rate` must be a positive number, "
                "'sweep' or a list of positive numbers. Received: "
                f"learning_rate={learning_rate!r}"
            )
    return tuple(float(r) for r in rates) if several else float(rates[0])


def _max_batch_frames(value):
    """Validates `max_batch_frames` (an int >= 1, None or "auto")."""
    if isinstance(value, str) and value == "auto":
        return default_max_batch_frames()
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if value is None or (is_int and value >= 1):
        return None if value is None else int(value)
    raise ExperimentError(
        'Argument `max_batch_frames` must be an int >= 1, None or "auto". '
        f"Received: max_batch_frames={value!r}"
    )


def _image_dataset(experiment, dataset):
    from ttrnn.experiments import datasets

    return datasets.dataset_name(experiment, dataset)


def _backend():
    import keras

    return keras.backend.backend()


def _topology():
    from ttrnn import distribution

    return distribution.topology()


def _listed(ranks):
    return ranks if isinstance(ranks, int) else tuple(ranks)


def _frozen(value):
    """A JSON list as a tuple (the fields hold tuples)."""
    return tuple(value) if isinstance(value, list) else value


def _jsonable(value):
    """Tuples as lists, as JSON reads them back."""
    return list(value) if isinstance(value, tuple) else value
