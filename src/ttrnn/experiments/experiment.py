"""An experiment of the 2017 TT-RNN system: the settings it fixes.

`Experiment` holds what REFERENCE §4 (the ICML 2017 paper and the 2017
experiment scripts) fixes: the TT modes and ranks of the first layer, the
head, the optimiser, batch size and epochs, the split, and the figures the
2017 system reported. The experiments themselves are in `catalog`; look
them up with `registry.get`.

A protocol says how an experiment is run. `"paper"` runs the 2017
script's settings (every frame for video); `"tuned"` runs ours where they
differ (the catalog's `tuned` entries). The video experiments run
`"paper"` or `"fast"`: frames sampled over each clip, with the tuned
settings (`Experiment.with_protocol`).
"""

import dataclasses
import math

VIDEO_MODELS = (
    "tt-gru",
    "tt-lstm",
    "tt-rnn",
    "vtt-gru",
    "vtt-lstm",
    "tt-mlp",
    "gru",
    "lstm",
    "rnn",
)
FEEDFORWARD_MODELS = ("tt", "dense")
SEQUENCE_MODELS = ("tt-gru", "gru", "tt-lstm", "lstm")
# FiboClass (2017): the three cells, each plain and TT.
FIBONACCI_MODELS = ("tt-gru", "gru", "tt-lstm", "lstm", "tt-rnn", "rnn")
# The TT-MLP's per-frame layer: with UCF11's input modes 8x20x20x18 the
# one layout of hidden size 256 and one rank at every cut whose cores hold
# exactly the paper's 7,680 weights (Table 2; docs/experiments.md).
TT_MLP_OUTPUT_SHAPE = (4, 2, 2, 16)
TT_MLP_RANKS = (1, 8, 8, 8, 1)
# Every protocol, and those of the video experiments alone.
PROTOCOLS = ("fast", "paper", "tuned")
VIDEO_PROTOCOLS = ("fast", "paper")
TUNED = "tuned"
FAST = "fast"
# The seed every 2017 script passed to `np.random.seed` (splits, column
# shuffles, generated data).
SEED_2017 = 11111986
# How features are scaled (`Experiment.scaling`): "none"; "unit" (pixels
# / 255); "minmax" (per column, with the training set's range, applied to
# every set); "minmax-each" (each set with its own range, as the 2017
# NIPS 2003 and spls scripts did).
SCALINGS = ("none", "unit", "minmax", "minmax-each")
# Video and array splits (`Experiment.split`): "cv5" (5 folds, balanced
# per class, groups kept together, seeded by the run), "cv5-2017" (the
# 2017 scripts' folds: a permutation of the clips by `SEED_2017`, cut
# into 5 runs of consecutive clips), "official", "holdout".
SPLITS = ("cv5", "cv5-2017", "official", "holdout")


def paper_figures(accuracy, input_to_hidden, seconds_per_epoch):
    """A model's 2017 figures as the catalog's `paper` entries hold
    them: its accuracy, input-to-hidden weights and seconds an epoch."""
    return {
        "accuracy": accuracy,
        "input_to_hidden": input_to_hidden,
        "seconds_per_epoch": seconds_per_epoch,
    }


class ExperimentError(ValueError):
    """An unknown experiment, model or setting."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One experiment: data, model shapes, training defaults, anchors.

    Args:
        name: the name on the command line, e.g. `"ucf11"`.
        kind: `"video"`, `"feedforward"` or `"sequence"`.
        task: `"multiclass"`, `"binary"`, `"multilabel"` or `"regression"`.
        metric: the dataset's headline metric: `"accuracy"`, `"map"`
            (mean average precision) or `"mse"`.
        description: one line for `ttrnn list` and the docs.
        tt_input_shape: input modes of the TT layer (their product is the
            padded input size).
        tt_output_shape: output modes (the hidden size is their product).
        tt_ranks: d + 1 ranks.
        models: the `--model` choices, the default first.
        learning_rate: Adam learning rate.
        batch_size: batch size.
        epochs: default number of epochs.
        hidden_activation: activation of the feed-forward hidden layer.
        l2: L2 factor on the dense kernels (head; dense baseline layer).
        tt_l2: L2 factor on the TT cores (feed-forward).
        dense_hidden_l2: L2 factor on the dense baseline's hidden kernel
            when it is not `l2` (`None`: `l2`).
        head_dropout: `Dropout` rate before the head (0: none).
        scaling: how features are scaled, one of `SCALINGS`.
        column_shuffle: permute the (padded) feature columns, the same
            permutation for every set (spls: by `SEED_2017`, as in 2017).
        batch_norm: feed-forward: `BatchNormalization` between the hidden
            layer and the head.
        validation_split: the fraction of the training set (its last
            rows, as Keras' `validation_split`) held out for validation:
            the learning curves and early stopping. 0: the curves are on
            the test split (as the 2017 scripts drew them).
        stop_patience: early stopping (`checkpointing.WorseEpochStopping`) after
            this many epochs of validation loss over `(1 + stop_tolerance)`
            times the best; `None` for none.
        stop_tolerance: see `stop_patience`.
        frame_shape: `(height, width)` of the video frames.
        every: keep one decoded frame out of `every` (paper protocol).
        max_frames: keep at most this many frames a clip (paper protocol).
        split: one of `SPLITS`.
        folds: the folds a cross-validation split runs by default
            (`None`: all five).
        data_subdir: the folder below the shared data directory
            (`"nips2003"`, `"spls"`), or `None`.
        paper: the figures the 2017 system reported, by model.
        notes: protocol details worth knowing.
        tuned: the settings the `"tuned"` protocol changes (field name to
            value), empty when the experiment has none.
        tuned_notes: why, in one line (replaces `notes` when tuned).
        masking: sequences are zero pre-padded; a `Masking(0)` layer
            masks the padding.
        dropout: input dropout of the recurrent layer.
        tt_dropout: input dropout of the TT recurrent layers when it is
            not `dropout` (`None`: `dropout`); the 2017 TT-RNNs applied
            none (`dropout_for`).
        recurrent_dropout: recurrent dropout of the recurrent layer.
        rnn_units: width of the plain RNN baselines when it is not the
            TT layer's (`None`: `units`; `plain_rnn_units`).
        explain: after training, score the model's explanations (LRP
            relevance a step against the steps that carry the answer).
    """

    name: str
    kind: str
    task: str
    metric: str
    description: str
    tt_input_shape: tuple
    tt_output_shape: tuple
    tt_ranks: tuple
    models: tuple
    learning_rate: float = 1e-3
    batch_size: int = 32
    epochs: int = 50
    hidden_activation: str = "relu"
    l2: float = 0.0
    tt_l2: float = 0.0
    dense_hidden_l2: float = None
    head_dropout: float = 0.0
    scaling: str = "none"
    column_shuffle: bool = False
    batch_norm: bool = False
    validation_split: float = 0.0
    stop_patience: int = None
    stop_tolerance: float = 0.05
    frame_shape: tuple = None
    every: int = 1
    max_frames: int = None
    split: str = "official"
    folds: tuple = None
    data_subdir: str = None
    paper: dict = dataclasses.field(default_factory=dict)
    notes: str = ""
    tuned: dict = dataclasses.field(default_factory=dict)
    tuned_notes: str = ""
    masking: bool = False
    dropout: float = 0.25
    tt_dropout: float = None
    recurrent_dropout: float = 0.25
    rnn_units: int = None
    explain: bool = False

    def __post_init__(self):
        for field, value, choices in (
            ("scaling", self.scaling, SCALINGS),
            ("split", self.split, SPLITS),
        ):
            if value not in choices:
                raise ExperimentError(
                    f"Argument `{field}` must be one of {choices}. "
                    f"Received: {field}={value!r} for {self.name}"
                )

    @property
    def protocols(self):
        """The protocols this experiment runs, the default first."""
        if self.kind == "video":
            return VIDEO_PROTOCOLS
        return ("paper",) + ((TUNED,) if self.tuned else ())

    def with_protocol(self, protocol):
        """The experiment as `protocol` runs it: with its tuned settings
        for `"tuned"` (video: `"fast"`), else unchanged (the 2017
        settings).

        Raises:
            ExperimentError: if the experiment does not run `protocol`
                (`registry.resolve` says more: which experiments do).
        """
        if protocol not in self.protocols:
            raise ExperimentError(
                f"Argument `protocol` must be one of {self.protocols} for "
                f"{self.name}. Received: protocol={protocol!r}"
            )
        if protocol not in (TUNED, FAST) or not self.tuned:
            return self
        return dataclasses.replace(
            self,
            description=f"{self.description} (tuned settings)",
            notes=self.tuned_notes,
            **self.tuned,
        )

    def dropout_for(self, model):
        """The input dropout of `model`'s recurrent layer: `tt_dropout`
        for the TT-RNNs when set, else `dropout`."""
        is_tt_rnn = model.startswith(("tt-", "vtt-")) and model != "tt-mlp"
        if is_tt_rnn and self.tt_dropout is not None:
            return self.tt_dropout
        return self.dropout

    @property
    def plain_rnn_units(self):
        """Width of the plain RNN baselines (`rnn_units`, else `units`)."""
        return self.units if self.rnn_units is None else self.rnn_units

    @property
    def cross_validated(self):
        """Whether the experiment runs 5-fold cross-validation (ours,
        "cv5", or the 2017 scripts' folds, "cv5-2017")."""
        return self.split in ("cv5", "cv5-2017")

    @property
    def input_dim(self):
        """Product of the TT input modes (the padded input size)."""
        return math.prod(self.tt_input_shape)

    @property
    def units(self):
        """Product of the TT output modes (the hidden size)."""
        return math.prod(self.tt_output_shape)

    @property
    def baseline_model(self):
        """The plain model the default (TT) model is compared with in a
        group's runs: `"dense"` for `"tt"`, `"gru"` for `"tt-gru"`."""
        if self.kind == "feedforward":
            return "dense"
        return self.models[0].split("-")[-1]

    def ranks(self, tt_ranks=None, model=None):
        """The TT ranks to use: `tt_ranks` (one int or d + 1 ints) when
        given, else the experiment's (`TT_MLP_RANKS` for the `"tt-mlp"`
        model), as an int or a list of ints. The one place the default
        ranks are filled in: `RunConfig.resolve` and the model builders
        (`models`) call it."""
        if tt_ranks is None:
            return list(TT_MLP_RANKS if model == "tt-mlp" else self.tt_ranks)
        if isinstance(tt_ranks, int):
            return int(tt_ranks)
        return [int(r) for r in tt_ranks]

    def check_model(self, model, tt_ranks=None, tt_input_shape=None):
        """Checks a model's TT settings before any data is read.

        Args:
            model: the model name (must be one of `models`).
            tt_ranks: `None`, one int, or one rank a cut: d + 1 ints
                starting and ending with 1, d being the TT layer's modes.
            tt_input_shape: video: `None` or d input modes.

        Raises:
            ExperimentError: naming the argument and what it must be.
        """
        if model not in self.models:
            raise ExperimentError(
                f"Argument `model` must be one of {self.models} for "
                f"{self.name}. Received: model={model!r}"
            )
        tt_model = model == "tt" or model.startswith(("tt-", "vtt-"))
        if not tt_model:
            return
        tt_mlp = model == "tt-mlp"
        d = len(TT_MLP_OUTPUT_SHAPE if tt_mlp else self.tt_output_shape)
        if tt_input_shape is not None and len(tt_input_shape) != d:
            raise ExperimentError(
                f"Argument `tt_input_shape` must have {d} modes for "
                f"{self.name} {model} (its TT layer has {d} output modes). "
                f"Received: tt_input_shape={_listed(tt_input_shape)}"
            )
        if tt_ranks is None or isinstance(tt_ranks, int):
            if tt_ranks is not None and tt_ranks < 1:
                raise ExperimentError(
                    f"Argument `tt_ranks` must be >= 1. Received: "
                    f"tt_ranks={tt_ranks}"
                )
            return
        ranks = [int(r) for r in tt_ranks]
        example = ",".join(["1"] + ["4"] * (d - 1) + ["1"])
        if len(ranks) != d + 1 or ranks[0] != 1 or ranks[-1] != 1:
            raise ExperimentError(
                f"Argument `tt_ranks` must be one int or d + 1 = {d + 1} "
                f"ints starting and ending with 1 (e.g. {example}) for "
                f"{self.name} {model}, whose TT layer has d = {d} modes. "
                f"Received: tt_ranks={_listed(ranks)}"
            )
        if min(ranks) < 1:
            raise ExperimentError(
                f"Argument `tt_ranks` must hold ints >= 1. Received: "
                f"tt_ranks={_listed(ranks)}"
            )


def _listed(values):
    return ",".join(str(int(v)) for v in values)
