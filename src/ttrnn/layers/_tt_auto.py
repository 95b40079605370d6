"""Automatic TT modes and budget ranks of the TT layers' arguments.

Shared by `TTDense` and the TT-RNN cells: validates `tt_input_shape`,
`tt_output_shape`, `units`, `tt_d`, `tt_ranks`, `tt_max_params` and
`tt_compression`, resolves what they determine in `__init__` and the rest
from the input dim in `build`, and writes them back to the config. The
math lives in `ttrnn.tt.factorize`.
"""

import math

from ttrnn import tt
from ttrnn.tt import factorize
from ttrnn.tt import shapes


class TTShapeArgumentsMixin:
    """Resolves `tt_input_shape`, `tt_output_shape` and `tt_ranks`.

    The host layer calls `_init_tt_shapes` in `__init__` (after whatever
    `_tt_ranks_for` needs) and `_resolve_from_input_dim` in `build` when
    `tt_input_shape` is still None. Hosts whose TT-matrix is not
    (tt_input_shape, tt_output_shape), such as the gate-expanded map of a
    TT-RNN, override `_tt_ranks_for`.
    """

    def _init_tt_shapes(
        self,
        tt_input_shape,
        tt_output_shape,
        tt_ranks,
        units,
        tt_d,
        tt_max_params,
        tt_compression,
    ):
        """Validates the arguments; resolves the modes they determine."""
        self._check_shape_arguments(
            tt_input_shape, tt_output_shape, units, tt_d
        )
        self._check_rank_arguments(tt_ranks, tt_max_params, tt_compression)
        self.tt_input_shape = self.tt_output_shape = self.tt_ranks = None
        if tt_input_shape is not None:
            self.tt_input_shape = tuple(tt_input_shape)
        if tt_output_shape is not None:
            self.tt_output_shape = tuple(tt_output_shape)
        elif tt_input_shape is not None:
            d = len(self.tt_input_shape)
            modes = factorize.balanced_modes(units, d, "units")
            self.tt_output_shape = factorize.pair_modes(
                self.tt_input_shape, modes
            )
        elif tt_d is not None:
            factorize.balanced_modes(units, tt_d, "units")  # fail early

    def _resolve_given(self):
        """Resolves the ranks when both modes were given (end of init)."""
        if self.tt_input_shape is not None and self.tt_output_shape:
            self._resolve(self.tt_input_shape, self.tt_output_shape)

    def _check_shape_arguments(
        self, tt_input_shape, tt_output_shape, units, tt_d
    ):
        if units is not None:
            units = factorize._check_int(units, "units", 1)
        if tt_d is not None:
            tt_d = factorize._check_int(tt_d, "tt_d", 1)
        if tt_output_shape is None and units is None:
            raise ValueError(
                "Give `units` or `tt_output_shape`. "
                "Received: units=None, tt_output_shape=None"
            )
        given = [s for s in (tt_input_shape, tt_output_shape) if s is not None]
        for shape in given:
            if tt_d is not None and len(tuple(shape)) != tt_d:
                raise ValueError(
                    f"`tt_d` must equal the number of given modes. "
                    f"Received: tt_d={tt_d} with tt_input_shape="
                    f"{tt_input_shape}, tt_output_shape={tt_output_shape}"
                )
        if len(given) == 2:
            tt.validate_modes(tt_input_shape, tt_output_shape)
        elif len(given) == 1:
            tt.validate_modes(given[0], given[0])
        if tt_output_shape is not None and units is not None:
            product = math.prod(tuple(tt_output_shape))
            if product != units:
                raise ValueError(
                    "`units` must equal the product of `tt_output_shape`. "
                    f"Received: units={units}, tt_output_shape="
                    f"{tuple(tt_output_shape)} (product {product})"
                )
        self._units, self._tt_d = units, tt_d

    def _check_rank_arguments(self, tt_ranks, tt_max_params, tt_compression):
        budget = tt_max_params is not None or tt_compression is not None
        if tt_ranks is None:
            raise ValueError(
                "`tt_ranks` is required: an int, a list of d + 1 ints, or "
                '"auto" with `tt_max_params` or `tt_compression`. '
                "Received: tt_ranks=None"
            )
        if isinstance(tt_ranks, str):
            if tt_ranks != "auto":
                raise ValueError(
                    '`tt_ranks` must be an int, a list of ints or "auto". '
                    f"Received: tt_ranks={tt_ranks!r}"
                )
            if (tt_max_params is None) == (tt_compression is None):
                raise ValueError(
                    'tt_ranks="auto" needs exactly one of `tt_max_params` '
                    "and `tt_compression`. Received: tt_max_params="
                    f"{tt_max_params}, tt_compression={tt_compression}"
                )
        elif budget:
            raise ValueError(
                '`tt_max_params` and `tt_compression` need tt_ranks="auto". '
                f"Received: tt_ranks={tt_ranks!r}, tt_max_params="
                f"{tt_max_params}, tt_compression={tt_compression}"
            )
        if tt_max_params is not None:
            tt_max_params = factorize._check_int(
                tt_max_params, "tt_max_params", 1
            )
        if tt_compression is not None and not tt_compression > 0:
            raise ValueError(
                "`tt_compression` must be > 0. "
                f"Received: tt_compression={tt_compression}"
            )
        if isinstance(tt_ranks, str):
            pass  # "auto", checked above
        elif shapes.is_scalar_rank(tt_ranks):
            # 2.5, True: rejected here, as Keras rejects units=2.5.
            tt_ranks = shapes.check_rank(tt_ranks)
        else:
            tt_ranks = shapes._as_int_tuple(tt_ranks, "tt_ranks")
        self._tt_ranks_arg = tt_ranks
        self._tt_max_params = tt_max_params
        self._tt_compression = tt_compression

    def _resolve_from_input_dim(self, input_dim):
        if input_dim is None:
            raise ValueError(
                f"Layer {self.name} needs a known last input dimension to "
                "choose `tt_input_shape`. Received: input_shape with last "
                "dimension None"
            )
        if self.tt_output_shape is not None:
            d = len(self.tt_output_shape)
            modes = factorize.balanced_modes(input_dim, d, "input_dim")
            ins = factorize.pair_modes(self.tt_output_shape, modes)
            outs = self.tt_output_shape
        else:
            ins, outs = factorize.auto_shapes(
                input_dim, self._units, self._tt_d
            )
        self._resolve(ins, outs)

    def _resolve(self, tt_input_shape, tt_output_shape):
        ins, outs = tt.validate_modes(tt_input_shape, tt_output_shape)
        ranks = self._tt_ranks_for(ins, outs)
        self.tt_input_shape, self.tt_output_shape = ins, outs
        self.tt_ranks = ranks

    def _tt_ranks_for(self, tt_input_shape, tt_output_shape):
        """The ranks of the (tt_input_shape, tt_output_shape) TT-matrix."""
        if self._tt_ranks_arg == "auto":
            return factorize.ranks_for_budget(
                tt_input_shape,
                tt_output_shape,
                self._tt_max_params,
                self._tt_compression,
            )
        return tt.validate_ranks(
            self._tt_ranks_arg, tt_input_shape, tt_output_shape
        )

    def _tt_shape_config(self):
        """Config entries of the shape arguments: resolved once known."""
        resolved = self.tt_ranks is not None
        return {
            "tt_input_shape": _as_list(self.tt_input_shape),
            "tt_output_shape": _as_list(self.tt_output_shape),
            "tt_ranks": (
                list(self.tt_ranks)
                if resolved
                else _as_list(self._tt_ranks_arg)
            ),
            "units": self.units,
            "tt_d": None if resolved else self._tt_d,
            "tt_max_params": None if resolved else self._tt_max_params,
            "tt_compression": None if resolved else self._tt_compression,
        }


def _as_list(value):
    if value is None or isinstance(value, (str, int)):
        return value
    return [int(v) for v in value]
