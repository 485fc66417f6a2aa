"""`--quantize`: int8 execution of a model's linear layers on the CPU (issue 16).

`mode` is pure data (what each mode covers); `int8_linear` and `apply` import torch and
run at load time only.
"""

from vlmcli.quantize.mode import PLANS, Part, QuantPlan, Quantize, plan_for

__all__ = ["PLANS", "Part", "QuantPlan", "Quantize", "plan_for"]
