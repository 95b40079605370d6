"""The shape and rank arguments of a layer's TT-matrix, as one value.

`TTMatrixSpec` holds what a TT layer is given (`tt_input_shape`,
`tt_output_shape`, `tt_ranks`, `units`, `tt_d`, `tt_max_params`,
`tt_compression`), checks it once, and resolves it against the input
into the modes and ranks of the cores. The math of the choices is in
`factorize`; this module only decides which choice applies.
"""

import dataclasses
import math

from ttrnn.tt import factorize
from ttrnn.tt import shapes

# Vocabulary modes of a lookup table when neither shape nor `tt_d` says:
# three, as in Hrinchuk et al. (2020).
DEFAULT_LOOKUP_D = 3
GATE_LAYOUTS = ("shared", "separate")
# The layer arguments `to_config` writes (the units under `units_name`).
_ARGUMENTS = ("tt_input_shape", "tt_output_shape", "tt_ranks")
_BUDGETS = ("tt_d", "tt_max_params", "tt_compression")


@dataclasses.dataclass(frozen=True)
class TTMatrixSpec:
    """The shape and rank arguments of a TT layer, checked and resolvable.

    A frozen value: the layer's arguments (normalised to tuples and ints)
    and the context that shapes its TT-matrix. `resolve` turns it into a
    resolved spec whose modes and ranks are fixed: `tt_input_shape`,
    `tt_output_shape` and `tt_ranks` are tuples, `units` their output
    size, and the budget arguments are None. The arguments are checked
    when the spec is made, with errors naming the layer's arguments.

    Attributes:
        tt_input_shape, tt_output_shape: the modes, or None to choose
            them (from the input dim, `units`, `rows`).
        tt_ranks: an int, d + 1 ints (d + 2 with `spatial_mode`), or
            "auto" with exactly one of `tt_max_params` and
            `tt_compression`.
        units: the output size instead of (or agreeing with)
            `tt_output_shape`.
        tt_d: the number of modes when no shape is given.
        tt_max_params: with "auto", the most core weights.
        tt_compression: with "auto", the least ratio of dense weights to
            core weights.
        gates: None for a plain TT-matrix; G for a TT-RNN's input map of G
            gates, the (M, G units) kernel.
        gate_layout: "shared" (one TT-matrix, first output mode times G)
            or "separate" (G TT-matrices of the given modes).
        spatial_mode: a convolution's kh * kw: the TT-matrix gets an
            input mode of that size and an output mode of 1 (a spatial
            core), so the ranks have d + 2 entries.
        kernel_modes: a convolution's (kh, kw) in the kernel layout
            (TensorLy-Torch's): a TT of the kernel's own modes, d channel
            cores, a kh core, a kw core and d filter cores, as the
            TT-matrix of input modes (c_1, ..., c_d, kh, kw, 1, ..., 1)
            and output modes (1, ..., 1, 1, 1, f_1, ..., f_d); the ranks
            have 2 d + 3 entries. Without shapes or `tt_d`, d = 1.
        rows: a lookup table's rows: the input modes, when not given,
            are chosen to cover them (`factorize.suggest_padding`), and a
            compression counts the rows, not the padded table.
        units_name: the layer's name for `units` ("filters",
            "output_dim"), used in errors and configs.

    Example:
    >>> spec = TTMatrixSpec(units=1024, tt_ranks="auto", tt_compression=100)
    >>> spec.needs_input_dim
    True
    >>> resolved = spec.resolve(input_dim=1024)
    >>> resolved.tt_input_shape, resolved.tt_output_shape, resolved.tt_ranks
    ((4, 8, 8, 4), (8, 4, 4, 8), (1, 13, 12, 12, 1))
    >>> gru = TTMatrixSpec((4, 8), (4, 4), 3, gates=3).resolve()
    >>> gru.core_shapes  # first output mode: 3 gates * 4
    [(1, 4, 12, 3), (3, 8, 4, 1)]
    >>> TTMatrixSpec.from_config(resolved.to_config()) == resolved
    True
    """

    tt_input_shape: tuple = None
    tt_output_shape: tuple = None
    tt_ranks: object = None
    units: int = None
    tt_d: int = None
    tt_max_params: int = None
    tt_compression: float = None
    gates: int = None
    gate_layout: str = "shared"
    spatial_mode: int = None
    kernel_modes: tuple = None
    rows: int = None
    units_name: str = "units"

    def __post_init__(self):
        self._check_shapes()
        self._check_ranks()

    # -- construction and serialisation ---------------------------------

    def to_config(self):
        """The layer-config entries of the arguments (JSON-ready)."""
        config = {name: _as_list(getattr(self, name)) for name in _ARGUMENTS}
        config[self.units_name] = self.units
        config.update({name: getattr(self, name) for name in _BUDGETS})
        return config

    @classmethod
    def from_config(cls, config, **context):
        """The spec of `to_config`'s entries (other keys are ignored);
        `context` gives the fields that are not layer arguments."""
        units_name = context.get("units_name", "units")
        arguments = {name: config.get(name) for name in _ARGUMENTS + _BUDGETS}
        return cls(**arguments, units=config.get(units_name), **context)

    @property
    def context(self):
        """The fields that are not layer arguments, for `from_config`."""
        names = ("gates", "gate_layout", "spatial_mode", "kernel_modes")
        names += ("rows", "units_name")
        return {name: getattr(self, name) for name in names}

    def replace(self, **changes):
        """A copy with `changes` (checked again)."""
        return dataclasses.replace(self, **changes)

    # -- resolution -----------------------------------------------------

    @property
    def needs_input_dim(self):
        """Whether `resolve` needs the input dim to choose the modes."""
        return self.tt_input_shape is None and self.rows is None

    @property
    def resolved(self):
        """Whether the modes and ranks are fixed (as `resolve` returns)."""
        return (
            self.tt_input_shape is not None
            and self.tt_output_shape is not None
            and isinstance(self.tt_ranks, tuple)
        )

    def resolve(self, input_dim=None):
        """The resolved spec: the modes, then the ranks, chosen once.

        Args:
            input_dim: the input size, to choose `tt_input_shape` from
                when it is not given (ignored otherwise).

        Returns:
            A resolved `TTMatrixSpec` with the same context.

        Raises:
            ValueError: naming the argument, for dims that factor badly,
                ranks that do not fit the modes, or a budget below the
                smallest TT-matrix.
        """
        ins, outs = self._modes(input_dim)
        return self.replace(
            tt_input_shape=ins,
            tt_output_shape=outs,
            tt_ranks=self._ranks(ins, outs),
            units=math.prod(outs),
            tt_d=None,
            tt_max_params=None,
            tt_compression=None,
        )

    @property
    def output_size(self):
        """The number of outputs: `units` or the product of the modes."""
        if self.tt_output_shape is not None:
            return math.prod(self.tt_output_shape)
        return self.units

    @property
    def matrix_shape(self):
        """(input modes, output modes) of one TT-matrix of the cores."""
        return self._matrix_modes(self.tt_input_shape, self.tt_output_shape)

    @property
    def num_matrices(self):
        """How many TT-matrices the cores hold (G separate gates, or 1)."""
        return self.gates if self.gate_layout == "separate" else 1

    @property
    def core_shapes(self):
        """The shapes of all cores, matrix by matrix (resolved only)."""
        ins, outs = self.matrix_shape
        return shapes.core_shapes(ins, outs, self.tt_ranks) * self.num_matrices

    def core_groups(self, cores):
        """`cores` (in `core_shapes` order) split per TT-matrix."""
        cores, count = list(cores), self.num_matrices
        size = len(cores) // count
        return [cores[g * size : (g + 1) * size] for g in range(count)]

    # -- the rules ------------------------------------------------------

    def _modes(self, input_dim):
        ins, outs = self.tt_input_shape, self.tt_output_shape
        if self.rows is not None:  # a lookup table
            d = len(ins or outs or ()) or self.tt_d or DEFAULT_LOOKUP_D
            if outs is None:
                outs = factorize.embedding_modes(self.units, d)
            if ins is None:
                ins = factorize.suggest_padding(self.rows, d)[1]
            return ins, outs
        if ins is not None:
            if outs is None:
                modes = factorize.balanced_modes(
                    self.units, len(ins), self.units_name
                )
                outs = factorize.pair_modes(ins, modes)
            return ins, outs
        if self.kernel_modes is not None and self.tt_d is None:
            if outs is None:  # TensorLy-Torch's form: channels unsplit
                return (input_dim,), (self.units,)
        if input_dim is None:
            raise ValueError(
                "The input dim is needed to choose `tt_input_shape`. "
                "Received: input_dim=None"
            )
        if outs is not None:
            modes = factorize.balanced_modes(input_dim, len(outs), "input_dim")
            return factorize.pair_modes(outs, modes), outs
        return factorize.auto_shapes(input_dim, self.units, self.tt_d)

    def _matrix_modes(self, ins, outs):
        if self.kernel_modes is not None:
            ones = (1,) * len(ins)
            return (
                tuple(ins) + tuple(self.kernel_modes) + ones,
                ones + (1, 1) + tuple(outs),
            )
        if self.spatial_mode is not None:
            return tuple(ins) + (self.spatial_mode,), tuple(outs) + (1,)
        if self.gates is not None and self.gate_layout == "shared":
            return tuple(ins), (self.gates * outs[0],) + tuple(outs[1:])
        return tuple(ins), tuple(outs)

    def _described(self, ins, outs):
        """The modes in the user's words, for the rank warning: a
        convolution's channel and filter modes, not its padded matrix."""
        if self.kernel_modes is not None:
            kh, kw = self.kernel_modes
            return (
                f"tt_input_shape={tuple(ins)}, tt_output_shape="
                f"{tuple(outs)} and the {kh}x{kw} kernel in the kernel "
                "layout, whose cores take the input modes, kh, kw, then "
                "the output modes"
            )
        if self.spatial_mode is not None:
            return (
                f"tt_input_shape={tuple(ins)}, tt_output_shape="
                f"{tuple(outs)} and the kernel's {self.spatial_mode} "
                "positions (kh kw: the last core's input mode)"
            )
        return None

    def _ranks(self, ins, outs):
        """The ranks of the cores' TT-matrices (each matrix the same)."""
        m_ins, m_outs = self._matrix_modes(ins, outs)
        given = self.tt_ranks
        if given != "auto":
            scalar = shapes.is_scalar_rank(given)
            if (
                self.spatial_mode is not None
                and not scalar
                and (len(given) != len(ins) + 2)
            ):
                d = len(ins)
                raise ValueError(
                    f"`tt_ranks` must have d + 2 = {d + 2} entries (1, r_1, "
                    f"..., r_d, 1) for d = {d} channel modes (or be one "
                    f"int). Received: tt_ranks={given} ({len(given)} entries)"
                )
            if (
                self.kernel_modes is not None
                and not scalar
                and len(given) != len(m_ins) + 1
            ):
                d, n = len(ins), len(m_ins) + 1
                raise ValueError(
                    f"`tt_ranks` must have 2 d + 3 = {n} entries (1, r_1, "
                    f"..., r_{n - 2}, 1) for d = {d} channel modes in the "
                    'kernel layout, tt_layout="kernel" (or be one int). '
                    f"Received: tt_ranks={given} ({len(given)} entries)"
                )
            return shapes.validate_ranks(
                given, m_ins, m_outs, described=self._described(ins, outs)
            )
        # A budget counts the weights of all matrices; a compression is
        # against the dense kernel (a table's real rows, not its padding).
        matrices = self.num_matrices
        if self.tt_max_params is not None:
            budget = self.tt_max_params
        else:
            rows = math.prod(m_ins) if self.rows is None else self.rows
            dense = rows * math.prod(m_outs) * matrices
            budget = int(dense // self.tt_compression)
        ones = (1,) * (len(m_ins) + 1)
        smallest = matrices * shapes.num_params(m_ins, m_outs, ones)
        if smallest > budget:
            what, detail = "TT-matrix", ""
            if self.gates is not None:
                what = "TT input map"
                detail = f" ({self.gate_layout} layout, {self.gates} gates)"
            raise ValueError(
                f"The smallest {what} (rank 1) for tt_input_shape={ins}, "
                f"tt_output_shape={outs}{detail} has {smallest} weights, "
                f"above the budget of {budget}. Received: tt_max_params="
                f"{self.tt_max_params}, tt_compression={self.tt_compression}"
            )
        return factorize.ranks_for_budget(
            m_ins, m_outs, max_params=budget // matrices
        )

    # -- the checks -----------------------------------------------------

    def _set(self, name, value):
        object.__setattr__(self, name, value)

    def _check_shapes(self):
        name, units, tt_d = self.units_name, self.units, self.tt_d
        if units is not None:
            self._set("units", shapes.check_int(units, name, 1))
        if tt_d is not None:
            self._set("tt_d", shapes.check_int(tt_d, "tt_d", 1))
        ins, outs = self.tt_input_shape, self.tt_output_shape
        if outs is None and units is None:
            raise ValueError(
                f"Give `{name}` or `tt_output_shape`. "
                f"Received: {name}=None, tt_output_shape=None"
            )
        given = [s for s in (ins, outs) if s is not None]
        for shape in given:
            if tt_d is not None and len(tuple(shape)) != tt_d:
                raise ValueError(
                    f"`tt_d` must equal the number of given modes. "
                    f"Received: tt_d={tt_d} with tt_input_shape="
                    f"{ins}, tt_output_shape={outs}"
                )
        if len(given) == 2:
            ins, outs = shapes.validate_modes(ins, outs)
        elif ins is not None:
            ins = shapes.validate_modes(ins, ins)[0]
        elif outs is not None:
            outs = shapes.validate_modes(outs, outs)[0]
        if outs is not None and units is not None:
            if math.prod(outs) != units:
                raise ValueError(
                    f"`{name}` must equal the product of `tt_output_shape`. "
                    f"Received: {name}={units}, tt_output_shape="
                    f"{outs} (product {math.prod(outs)})"
                )
        if ins is not None and self.rows is not None:
            if math.prod(ins) < self.rows:
                raise ValueError(
                    "The product of `tt_input_shape` must be at least "
                    f"`input_dim`. Received: tt_input_shape={ins}"
                    f" (product {math.prod(ins)}), input_dim={self.rows}"
                )
        self._set("tt_input_shape", ins)
        self._set("tt_output_shape", outs)
        if ins is None and outs is None and tt_d is not None:
            if self.rows is None:
                factorize.balanced_modes(units, tt_d, name)  # fail early
        if self.gate_layout not in GATE_LAYOUTS:
            raise ValueError(
                f"`tt_gate_layout` must be one of {GATE_LAYOUTS}. "
                f"Received: tt_gate_layout={self.gate_layout!r}"
            )

    def _check_ranks(self):
        tt_ranks = self.tt_ranks
        max_params, compression = self.tt_max_params, self.tt_compression
        if tt_ranks is None:
            entries = "d + 1" if self.spatial_mode is None else "d + 2"
            entries = "2 d + 3" if self.kernel_modes else entries
            raise ValueError(
                f"`tt_ranks` is required: an int, a list of {entries} ints, "
                'or "auto" with `tt_max_params` or `tt_compression`. '
                "Received: tt_ranks=None"
            )
        if isinstance(tt_ranks, str):
            if tt_ranks != "auto":
                raise ValueError(
                    '`tt_ranks` must be an int, a list of ints or "auto". '
                    f"Received: tt_ranks={tt_ranks!r}"
                )
            if (max_params is None) == (compression is None):
                raise ValueError(
                    'tt_ranks="auto" needs exactly one of `tt_max_params` '
                    f"and `tt_compression`. Received: tt_max_params="
                    f"{max_params}, tt_compression={compression}"
                )
        elif max_params is not None or compression is not None:
            raise ValueError(
                '`tt_max_params` and `tt_compression` need tt_ranks="auto". '
                f"Received: tt_ranks={tt_ranks!r}, tt_max_params="
                f"{max_params}, tt_compression={compression}"
            )
        if max_params is not None:
            max_params = shapes.check_int(max_params, "tt_max_params", 1)
            self._set("tt_max_params", max_params)
        if compression is not None and not compression > 0:
            raise ValueError(
                "`tt_compression` must be > 0. "
                f"Received: tt_compression={compression}"
            )
        if isinstance(tt_ranks, str):
            return
        if shapes.is_scalar_rank(tt_ranks):
            # 2.5, True: rejected here, as Keras rejects units=2.5.
            self._set("tt_ranks", shapes.check_rank(tt_ranks))
        else:
            self._set("tt_ranks", shapes.as_int_tuple(tt_ranks, "tt_ranks"))


def _as_list(value):
    if value is None or isinstance(value, (str, int)):
        return value
    return [int(v) for v in value]
