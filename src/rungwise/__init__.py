"""rungwise: which rung of the adaptation ladder solves your task? Measured, on your own eval set.

    from rungwise import Task, climb
    result = climb(Task.load("examples/banking77"), model="local")
    print(result.recommendation)
"""

from __future__ import annotations

from rungwise.climb import ClimbOptions, ClimbResult, climb
from rungwise.data import Example
from rungwise.errors import (
    BudgetExceeded,
    CapabilityMissing,
    DataError,
    MissingApiKey,
    MissingExtra,
    ModelError,
    ModelUnavailable,
    RungwiseError,
    StoreError,
    TaskError,
)
from rungwise.models.base import Completion, Message, Model, Request
from rungwise.models.registry import resolve_model
from rungwise.store import Store
from rungwise.task import Task, TaskSpec

from rungwise._version import __version__

__all__ = [
    "BudgetExceeded",
    "CapabilityMissing",
    "ClimbOptions",
    "ClimbResult",
    "Completion",
    "DataError",
    "Example",
    "Message",
    "MissingApiKey",
    "MissingExtra",
    "Model",
    "ModelError",
    "ModelUnavailable",
    "Request",
    "RungwiseError",
    "Store",
    "StoreError",
    "Task",
    "TaskError",
    "TaskSpec",
    "climb",
    "resolve_model",
]
