"""rungwise: which rung of the adaptation ladder solves your task? Measured, on your own eval set.

    from rungwise import Task, climb
    result = climb(Task.load("examples/banking77"), model="local")
    print(result.recommendation)

This module is the public surface: everything in `__all__` is kept stable. Modules with a leading underscore,
and names not exported here, are internal and may change.
"""

from __future__ import annotations

from rungwise._version import __version__
from rungwise.distillation.job import DistillJob, DistillOptions, DistillResult, distill
from rungwise.engine.compare import VariantDiff, compare_runs
from rungwise.engine.gate import GateResult, gate
from rungwise.engine.job import ClimbJob, ClimbResult, climb
from rungwise.engine.multi import ModelChoice, MultiClimbResult, climb_models
from rungwise.engine.options import NOT_SET, ClimbOptions
from rungwise.errors import (
    BudgetExceeded,
    CapabilityMissing,
    ClimbCancelled,
    DataError,
    MetricError,
    MissingApiKey,
    MissingExtra,
    ModelError,
    ModelUnavailable,
    RungwiseError,
    StoreError,
    TaskError,
)
from rungwise.judge.frontier import Frontier
from rungwise.metrics import Metric, register_metric
from rungwise.models.base import Capabilities, Completion, Message, Model, ModelInfo, Request
from rungwise.models.registry import resolve_model
from rungwise.progress import ProgressEvent
from rungwise.rungs import Rung, RungContext, RungSkipped, Variant, register
from rungwise.store import Store
from rungwise.task.spec import Task, TaskSpec

#: the paired comparison of two stored runs, variant by variant
compare = compare_runs

__all__ = [
    "NOT_SET",
    "BudgetExceeded",
    "Capabilities",
    "CapabilityMissing",
    "ClimbCancelled",
    "ClimbJob",
    "ClimbOptions",
    "ClimbResult",
    "Completion",
    "DataError",
    "DistillJob",
    "DistillOptions",
    "DistillResult",
    "Frontier",
    "GateResult",
    "Message",
    "Metric",
    "MetricError",
    "MissingApiKey",
    "MissingExtra",
    "Model",
    "ModelChoice",
    "ModelError",
    "ModelInfo",
    "ModelUnavailable",
    "MultiClimbResult",
    "ProgressEvent",
    "Request",
    "Rung",
    "RungContext",
    "RungSkipped",
    "RungwiseError",
    "Store",
    "StoreError",
    "Task",
    "TaskError",
    "TaskSpec",
    "Variant",
    "VariantDiff",
    "__version__",
    "climb",
    "climb_models",
    "compare",
    "compare_runs",
    "distill",
    "gate",
    "register",
    "register_metric",
    "resolve_model",
]
