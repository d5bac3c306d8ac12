"""Metrics: one contract (`Metric`: a name, binary or graded, `score(answer, example)`), one registry.

The built-ins (accuracy, exact_match, token_f1, json_f1, regex) register like any other metric; a task's own
metric (`[metric] name = "custom"`, `function = "module:function"`) is loaded from the task folder's file by its
path, under a module name of its own, in a separate process: two tasks that both ship `metric.py` never collide,
and a metric that hangs or exits cannot take the climb with it.
"""

from rungwise.metrics.base import Metric, register_metric, registered_metrics, resolve_metric

# importing the built-ins registers them
from rungwise.metrics import builtin as _builtin  # noqa: F401  # isort: skip

__all__ = ["Metric", "register_metric", "registered_metrics", "resolve_metric"]
