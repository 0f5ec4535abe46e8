"""Data quality: compile a table's ``_dq.yml`` into one warehouse query and judge its result.

``plan_dq`` (pure) → run the Query through the Warehouse port → ``evaluate`` (pure).
"""

from lib.config.dq import DqRules, load_dq
from lib.dq.evaluate import DqOutcome, DqResult, evaluate
from lib.dq.plan import SAMPLE_LIMIT, measure_alias, plan_dq

__all__ = [
    "SAMPLE_LIMIT",
    "DqOutcome",
    "DqResult",
    "DqRules",
    "evaluate",
    "load_dq",
    "measure_alias",
    "plan_dq",
]
