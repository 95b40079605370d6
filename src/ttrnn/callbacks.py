"""Keras callbacks of ttrnn: rank-adaptive training, and JAX's `fit`.

`RankAdaptation` moves the ranks of every TT layer of a model toward a
target during `fit`, by `ttrnn.adapt_ranks` on a schedule; `export_adapted`
rebuilds the trained model at its final ranks. See docs/ranks.md.

`CommittedState` (one compile of the train step a batch shape) and
`StepByStep` (each step finished before the next is dispatched) are what
`ttrnn experiment` adds to Keras' JAX `fit`; pass them to your own `fit`
for the same speed (docs/speed.md). Neither changes anything on other
backends.
"""

import keras

from ttrnn import rank_adaptation
from ttrnn.experiments.jax_state import CommittedState
from ttrnn.experiments.jax_state import StepByStep
from ttrnn.rank_adaptation import export_adapted

__all__ = ["CommittedState", "RankAdaptation", "StepByStep", "export_adapted"]


class RankAdaptation(keras.callbacks.Callback):
    """Truncates all TT layers' ranks toward a target during training.

    After `warmup` epochs (or steps) at the ranks the model was built
    with, `stages` truncations `every` epochs (or steps) apart move the
    total weights of the TT cores linearly from their starting count P0
    (the cores' shapes) to the target, which the last one meets exactly.
    Each truncation is `ttrnn.adapt_ranks`: one global allocation over all
    cuts of all TT layers by TT-rounding singular values, the rounded
    cores written back zero-padded (the variables keep their shapes, the
    dropped slices stay zero), the optimiser's moments carried along.

    The schedule depends only on the epoch (or the optimiser's step
    count), so a resumed run (`initial_epoch=`, a restored optimiser)
    goes on where it stopped; the ranks themselves live in the weights
    (zeros), so `.keras` files keep them. `schedule` records each
    truncation; `get_state()` / `set_state()` carry it and the plan
    (`warmup`, `every`, `stages`, `unit`) across a resume, so that the
    resumed run truncates at the epochs and to the targets it began
    with and `schedule` lists every truncation. `export_adapted(model)`
    removes the zero slices.

    Args:
        target_params: the TT cores' total weights at the end.
        target_compression: or the TT kernels' dense weights over this.
        eps: or a tolerance: each TT-matrix within eps ||W||_F (the
            TT-SVD bound); the stages raise it linearly to `eps`.
        warmup: epochs (or steps) before the first truncation (>= 1).
        every: epochs (or steps) between truncations (>= 1).
        stages: the number of truncations (>= 1).
        unit: "epoch" or "step".
        moments: how optimiser moments follow (see `ttrnn.adapt_ranks`).
        balance: scale each TT-matrix's rounded cores to equal norms.
        verbose: 1 prints a line per truncation.

    Example:
    >>> import keras, numpy as np, ttrnn
    >>> model = keras.Sequential([keras.Input((64,)),
    ...     ttrnn.TTDense((4, 4, 4), (4, 4, 4), tt_ranks=6)])
    >>> model.compile("adam", "mse")
    >>> adapt = ttrnn.callbacks.RankAdaptation(target_params=300, stages=2)
    >>> x = np.ones((8, 64), "float32")
    >>> _ = model.fit(x, x, epochs=3, verbose=0, callbacks=[adapt])
    >>> [s["params"] <= s["target_params"] for s in adapt.schedule]
    [True, True]
    """

    def __init__(
        self,
        target_params=None,
        target_compression=None,
        eps=None,
        warmup=1,
        every=1,
        stages=3,
        unit="epoch",
        moments="reset",
        balance=True,
        verbose=0,
    ):
        super().__init__()
        for name, value in (
            ("warmup", warmup),
            ("every", every),
            ("stages", stages),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or (value < 1)
            ):
                raise ValueError(
                    f"Argument `{name}` must be an int >= 1. Received: "
                    f"{name}={value!r}"
                )
        if unit not in ("epoch", "step"):
            raise ValueError(
                'Argument `unit` must be "epoch" or "step". Received: '
                f"unit={unit!r}"
            )
        if moments not in rank_adaptation.MOMENTS:
            raise ValueError(
                f"Argument `moments` must be one of "
                f"{rank_adaptation.MOMENTS}. Received: moments={moments!r}"
            )
        self.target_params = target_params
        self.target_compression = target_compression
        self.eps = eps
        self.warmup, self.every, self.stages = warmup, every, stages
        self.unit, self.moments, self.balance = unit, moments, balance
        self.verbose = verbose
        self.schedule = []
        self._start = self._budget = None
        self._masks = []

    # Where `experiments.checkpointing` keeps `get_state()` in a run's
    # state.json (the model file holds the ranks, not the plan).
    checkpoint_key = "rank_adaptation"

    def get_state(self):
        """The plan and the truncations so far, as JSON-able values: what
        a resumed run needs besides the model (see `set_state`)."""
        budget = {
            "target_params": self.target_params,
            "target_compression": self.target_compression,
            "eps": self.eps,
        }
        return {
            "warmup": self.warmup,
            "every": self.every,
            "stages": self.stages,
            "unit": self.unit,
            "schedule": [dict(entry) for entry in self.schedule],
            # What the run aims at: a resume can check it (`set_state`
            # keeps this callback's own).
            "budget": {k: v for k, v in budget.items() if v is not None},
        }

    def set_state(self, state):
        """Restores a `get_state()`: the plan the run began with (it wins
        over this callback's arguments, so the truncations come at the
        same epochs or steps and aim at the same targets as in the run
        without a break) and its schedule so far (`schedule` is updated
        in place)."""
        self.warmup, self.every = int(state["warmup"]), int(state["every"])
        self.stages, self.unit = int(state["stages"]), state["unit"]
        self.schedule[:] = [dict(entry) for entry in state["schedule"]]

    def stage_at(self, count):
        """The stage (1..stages) that ends after `count` epochs or steps,
        or 0 when none does."""
        offset = count - self.warmup
        if offset < 0 or offset % self.every:
            return 0
        stage = offset // self.every + 1
        return stage if stage <= self.stages else 0

    @property
    def end(self):
        """The epoch (or step) count after which the last stage runs."""
        return self.warmup + (self.stages - 1) * self.every

    def on_train_begin(self, logs=None):
        self._budget = rank_adaptation.resolve_target(
            self.model, self.target_params, self.target_compression, self.eps
        )
        self._start = rank_adaptation.tt_params(self.model, effective=False)
        self._masks = rank_adaptation.rank_masks(self.model)  # on resume

    def on_epoch_end(self, epoch, logs=None):
        if self.unit == "epoch":
            self._maybe_adapt(epoch + 1, "epoch")
        # A regulariser whose gradient at 0 is not 0 (L1 on JAX, where
        # d|x|/dx = 1 at 0) moves dead slices: zero them again, so that
        # checkpoints and the saved model hold the ranks exactly.
        for var, mask in self._masks:
            var.assign(var * mask)

    def on_train_batch_end(self, batch, logs=None):
        if self.unit != "step":
            return
        step = keras.ops.convert_to_numpy(self.model.optimizer.iterations)
        if self.stage_at(int(step)):
            # JAX's fit holds the state outside the variables mid-epoch.
            sync = getattr(self.model, "jax_state_sync", None)
            if sync is not None:
                sync()
            self._maybe_adapt(int(step), "step")

    def _maybe_adapt(self, count, unit):
        stage = self.stage_at(count)
        if not stage:
            return
        fraction = stage / self.stages
        target = {"eps": None, "target_params": None}
        if self._budget is None:
            target["eps"] = self.eps * fraction
        else:
            span = self._start - self._budget
            target["target_params"] = self._budget + int(span * (1 - fraction))
        report = rank_adaptation.adapt_ranks(
            self.model,
            optimizer=self.model.optimizer,
            moments=self.moments,
            balance=self.balance,
            **target,
        )
        self._masks = rank_adaptation.rank_masks(self.model)
        entry = {unit: count, "stage": stage, **target, **report}
        entry.pop("eps" if self._budget is not None else "target_params")
        self.schedule.append(entry)
        if self.verbose:
            print(
                f"RankAdaptation: {unit} {count}, stage {stage}/"
                f"{self.stages}: {report['params']} TT weights"
            )
