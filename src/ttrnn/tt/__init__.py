"""The TT-matrix math: small pure functions, `keras.ops` or NumPy only.

The math (`shapes`, `factorize`, `cores`, `lookup`, `initializers`,
`decompositions`, `rounding`) is here, with `spec`: a layer's TT shape
and rank arguments as one value (`TTMatrixSpec`). The contraction engine
that computes x @ W fast on each backend is the subpackage
`contraction`, whose `matmul` this package re-exports.

A TT-matrix W of shape (prod m_k, prod n_k) is a list of d cores of shape
(r_k, m_k, n_k, r_{k+1}) with r_0 = r_d = 1 (the layout of t3f, TensorLy
and TT-Toolbox). Rows and columns of W are flattened in C order.
"""

from ttrnn.tt.adaptive import effective_ranks
from ttrnn.tt.contraction import STRATEGIES
from ttrnn.tt.contraction import Plan
from ttrnn.tt.contraction import calibrate
from ttrnn.tt.contraction import choose_plan
from ttrnn.tt.contraction import matmul
from ttrnn.tt.contraction import validate_strategy
from ttrnn.tt.cores import cores_modes
from ttrnn.tt.cores import to_dense
from ttrnn.tt.cores import transpose
from ttrnn.tt.decompositions import from_dense
from ttrnn.tt.decompositions import from_legacy_kernel
from ttrnn.tt.factorize import auto_shapes
from ttrnn.tt.factorize import balanced_modes
from ttrnn.tt.factorize import choose_d
from ttrnn.tt.factorize import ranks_for_budget
from ttrnn.tt.factorize import suggest_padding
from ttrnn.tt.initializers import TTInitializer
from ttrnn.tt.initializers import TTOrthogonal
from ttrnn.tt.initializers import TTRandom
from ttrnn.tt.initializers import TTVarianceScaling
from ttrnn.tt.lookup import LookupPlan
from ttrnn.tt.lookup import gather_rows
from ttrnn.tt.lookup import lookup_path
from ttrnn.tt.lookup import lookup_plan
from ttrnn.tt.lookup import row_digits
from ttrnn.tt.lookup import validate_lookup_path
from ttrnn.tt.rounding import relative_error
from ttrnn.tt.rounding import round_cores
from ttrnn.tt.shapes import core_shapes
from ttrnn.tt.shapes import flops
from ttrnn.tt.shapes import max_ranks
from ttrnn.tt.shapes import num_params
from ttrnn.tt.shapes import to_dense_flops
from ttrnn.tt.shapes import useful_ranks
from ttrnn.tt.shapes import validate_modes
from ttrnn.tt.shapes import validate_ranks
from ttrnn.tt.spec import TTMatrixSpec

__all__ = [
    "STRATEGIES",
    "Plan",
    "calibrate",
    "choose_plan",
    "LookupPlan",
    "TTInitializer",
    "TTMatrixSpec",
    "TTOrthogonal",
    "TTRandom",
    "TTVarianceScaling",
    "auto_shapes",
    "balanced_modes",
    "choose_d",
    "core_shapes",
    "cores_modes",
    "effective_ranks",
    "flops",
    "from_dense",
    "from_legacy_kernel",
    "gather_rows",
    "lookup_path",
    "lookup_plan",
    "matmul",
    "max_ranks",
    "num_params",
    "ranks_for_budget",
    "relative_error",
    "round_cores",
    "row_digits",
    "suggest_padding",
    "to_dense",
    "to_dense_flops",
    "transpose",
    "useful_ranks",
    "validate_modes",
    "validate_ranks",
    "validate_lookup_path",
    "validate_strategy",
]
