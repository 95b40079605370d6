"""Explanations: layer-wise relevance propagation (LRP) for TT models.

`lrp(model, x)` says how much each input value drove one output unit
(Arras et al. 2017's rules for recurrent networks; the epsilon-rule on
every linear map, through TT layers without building their matrices).
"""

from ttrnn.explain.lrp import Explanation
from ttrnn.explain.lrp import lrp
from ttrnn.explain.steps import SUPPORTED

__all__ = ["SUPPORTED", "Explanation", "lrp"]
