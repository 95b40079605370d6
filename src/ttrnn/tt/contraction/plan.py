"""Plans: the ways `ttrnn.tt.matmul` can contract y = x @ W, and their names.

A *plan* says how x meets the cores:

- `groups`: neighbouring cores are first merged into bigger cores, e.g.
  (2, 2) merges cores 0-1 and 2-3 of a 4-core train (fewer, larger
  matmuls); (1, 1, 1, 1) keeps them apart; (d,) rebuilds W itself (the
  "dense" plan: one GEMM).
- `direction`: "ltr" sweeps the (merged) cores from the first one, "rtl"
  from the last one.
- `layout`: "batch_first" keeps the batch axis outermost, "batch_last"
  transposes x once so the batch axis is innermost (every step then is
  one wide GEMM per output prefix), "chunked" (two groups only) runs both
  steps on a chunk of rows at a time with a hand-written backward pass
  that recomputes each chunk's state instead of storing it
  (`ttrnn.tt.contraction.chunked`).

A *strategy* (`STRATEGIES`) says how a plan is chosen; it is the one
vocabulary of the layers' `tt_strategy` argument and of `matmul`.
"""

import dataclasses
import functools
import itertools
import re

# "auto": least modelled time (see `cost`); "measure": the
# fastest of the best few plans, timed once per shape; "flops": fewest
# multiply-adds over every plan; "ltr" / "rtl": core by core from the
# first / last core; "dense": rebuild W, then one GEMM.
STRATEGIES = ("auto", "measure", "flops", "ltr", "rtl", "dense")

DIRECTIONS = ("ltr", "rtl")
LAYOUTS = ("batch_first", "batch_last", "chunked")

# Batch size assumed when the batch is unknown at planning time (e.g. a
# symbolic `None` batch, or a dynamic shape inside a compiled function).
DEFAULT_PLANNING_BATCH = 32


@dataclasses.dataclass(frozen=True)
class Plan:
    """A contraction order for y = x @ W.

    Args:
        groups: tuple of positive ints summing to d: sizes of the runs of
            neighbouring cores merged before the sweep. `(d,)` is the
            dense plan (rebuild W, one GEMM).
        direction: "ltr" or "rtl".
        layout: "batch_first", "batch_last" or "chunked" (exactly two
            groups; see `ttrnn.tt.contraction.chunked`).

    Example:
    >>> Plan((2, 2), "ltr", "batch_last").name
    'ltr[2,2]/batch_last'
    """

    groups: tuple
    direction: str = "ltr"
    layout: str = "batch_first"

    def __post_init__(self):
        groups = tuple(int(g) for g in self.groups)
        if not groups or any(g < 1 for g in groups):
            raise ValueError(
                "`groups` must be a non-empty tuple of positive ints. "
                f"Received: groups={self.groups!r}"
            )
        object.__setattr__(self, "groups", groups)
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"`direction` must be one of {DIRECTIONS}. "
                f"Received: direction={self.direction!r}"
            )
        if self.layout not in LAYOUTS:
            raise ValueError(
                f"`layout` must be one of {LAYOUTS}. "
                f"Received: layout={self.layout!r}"
            )
        if self.layout == "chunked" and len(groups) != 2:
            raise ValueError(
                "The 'chunked' layout needs exactly two groups of cores. "
                f"Received: groups={groups}"
            )

    @property
    def is_dense(self):
        """True when the plan rebuilds W and does one GEMM."""
        return len(self.groups) == 1

    @property
    def name(self):
        if self.is_dense:
            return "dense"
        groups = ",".join(str(g) for g in self.groups)
        return f"{self.direction}[{groups}]/{self.layout}"


_NAME = re.compile(r"^(ltr|rtl)\[(\d+(?:,\d+)*)\]/(\w+)$")


@functools.lru_cache(maxsize=256)  # layers keep names; parse them once
def parse_plan(name):
    """The `Plan` of a name such as "ltr[2,2]/chunked" (`Plan.name`).

    Args:
        name: "<direction>[<groups>]/<layout>", e.g. "rtl[1,1,2]/batch_last".

    Returns:
        A `Plan`.

    Raises:
        ValueError: if the name does not follow that pattern, or names an
            unknown layout.
    """
    match = _NAME.match(str(name).replace(" ", ""))
    if match is None:
        raise ValueError(
            "A plan name looks like 'ltr[2,2]/batch_first': a direction "
            f"{DIRECTIONS}, the group sizes in brackets and a layout "
            f"{LAYOUTS}. Received: {name!r}"
        )
    direction, groups, layout = match.groups()
    groups = tuple(int(g) for g in groups.split(","))
    return Plan(groups, direction, layout)


def dense_plan(d):
    """The plan that rebuilds W (merges all d cores) and does one GEMM."""
    return Plan((d,), "ltr", "batch_first")


def _compositions(d):
    if d == 0:
        yield ()
        return
    for first in range(1, d + 1):
        for rest in _compositions(d - first):
            yield (first,) + rest


def candidate_plans(d, strategy="auto"):
    """All plans a strategy may choose among, for d cores.

    Args:
        d: number of cores.
        strategy: "auto" or "flops" (every plan), "ltr" / "rtl" (core by
            core in that direction, either layout) or "dense".

    Returns:
        List of `Plan`.
    """
    if strategy == "dense":
        return [dense_plan(d)]
    if strategy == "measure":
        strategy = "auto"
    if strategy in DIRECTIONS:
        layouts = ("batch_first", "batch_last")
        if d == 2:
            layouts += ("chunked",)
        return [Plan((1,) * d, strategy, lay) for lay in layouts]
    plans = [dense_plan(d)]
    for groups in _compositions(d):
        if len(groups) == 1:
            continue
        for direction, layout in itertools.product(DIRECTIONS, LAYOUTS):
            if layout == "chunked" and len(groups) != 2:
                continue
            plans.append(Plan(groups, direction, layout))
    return plans


def validate_strategy(strategy, name="strategy"):
    """Checks a contraction strategy; returns it (a name becomes a Plan).

    Args:
        strategy: one of `STRATEGIES`, a `ttrnn.tt.contraction.Plan`, or a
            plan's name such as "ltr[2,2]/chunked".
        name: the argument's name for the error message.

    Raises:
        ValueError: for anything else.
    """
    if isinstance(strategy, Plan) or strategy in STRATEGIES:
        return strategy
    if isinstance(strategy, str) and "[" in strategy:
        try:
            return parse_plan(strategy)
        except ValueError as e:
            raise ValueError(f"`{name}`: {e}") from None
    raise ValueError(
        f"`{name}` must be one of {STRATEGIES}, a ttrnn.tt.contraction.Plan "
        f"or a plan name such as 'ltr[2,2]/chunked'. "
        f"Received: {name}={strategy!r}"
    )
