"""The TT contraction engine: y = x @ W without building W.

`matmul` contracts an input with a list of cores by a *plan* (which cores
to merge, in which direction, in which memory layout), chosen per shape
by a *strategy* (`STRATEGIES`) and cached:

- `plan`: `Plan`, plan names, the strategies and their validation;
- `cost`: the cost model of a plan's forward+backward time;
- `measure`: timing plans on this machine (`measured_plan`,
  `calibrate`);
- `execute`: running a plan in `keras.ops` (sweeps over merged cores);
- `chunked`: the two-step plan run chunk by chunk, with its own backward;
- `integer`: a sweep's first GEMM on integer rows (uint8 frames), cast
  piece by piece, with its own backward;
- `kernels`: contraction steps shared by `execute` and `chunked`;
- `runtime`: the per-backend switches and what the backend, device and
  distribution tell;
- `contract`: `choose_plan`, `matmul` and `planned_macs` (the
  multiply-adds of the plan it runs);
- `conv`: a TT convolution's two paths, chosen, run and priced
  (`TTConv2D`);
- `chunked_rows`: rows of a TT-matrix chunk by chunk, with their own
  backward (`ttrnn.tt.gather_rows`, `TTEmbedding`).

The modules import in that order (no cycles; `runtime` imports none of
them); the TT math they use (`ttrnn.tt.shapes`, `ttrnn.tt.cores`) knows
nothing of them.
"""

from ttrnn.tt.contraction.contract import choose_plan
from ttrnn.tt.contraction.contract import clear_cache
from ttrnn.tt.contraction.contract import matmul
from ttrnn.tt.contraction.contract import planned_macs
from ttrnn.tt.contraction.contract import reads_integers
from ttrnn.tt.contraction.cost import CostModel
from ttrnn.tt.contraction.cost import get_cost_model
from ttrnn.tt.contraction.cost import set_cost_model
from ttrnn.tt.contraction.measure import calibrate
from ttrnn.tt.contraction.measure import measured_plan
from ttrnn.tt.contraction.plan import DEFAULT_PLANNING_BATCH
from ttrnn.tt.contraction.plan import STRATEGIES
from ttrnn.tt.contraction.plan import Plan
from ttrnn.tt.contraction.plan import parse_plan
from ttrnn.tt.contraction.plan import validate_strategy

__all__ = [
    "DEFAULT_PLANNING_BATCH",
    "STRATEGIES",
    "CostModel",
    "Plan",
    "calibrate",
    "choose_plan",
    "clear_cache",
    "get_cost_model",
    "matmul",
    "measured_plan",
    "parse_plan",
    "planned_macs",
    "reads_integers",
    "set_cost_model",
    "validate_strategy",
]
