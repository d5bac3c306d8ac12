"""The search's budget, in metric calls (one candidate scored on one dev row), with presets."""

from __future__ import annotations

from dataclasses import dataclass

#: metric calls per preset: light fits the default climb (a minute or two on the embedded model), heavy a
#: served model with room to spare
PRESETS = {"light": 120, "medium": 400, "heavy": 1200}
DEFAULT = "light"


@dataclass(frozen=True)
class SearchBudget:
    """At most `metric_calls` candidate answers scored on dev or feedback rows; `name` the preset (or "custom")."""

    metric_calls: int
    name: str = DEFAULT

    def describe(self) -> str:
        return f"{self.metric_calls:,} metric calls ({self.name})" if self.name != "custom" \
            else f"{self.metric_calls:,} metric calls"


def parse_search_budget(value: str | int | None) -> SearchBudget:
    """`light`, `medium`, `heavy` or a number of metric calls (at least 20); None: the default preset."""
    if value is None or value == "":
        return SearchBudget(PRESETS[DEFAULT], DEFAULT)
    if isinstance(value, bool):
        raise ValueError(f"a search budget is light, medium, heavy or a number of metric calls, not {value!r}")
    if isinstance(value, int) or str(value).strip().isdigit():
        calls = int(value)
        if calls < 20:
            raise ValueError(f"a search budget needs at least 20 metric calls, got {calls}")
        return SearchBudget(calls, "custom")
    name = str(value).strip().lower()
    if name not in PRESETS:
        raise ValueError(f"a search budget is light, medium, heavy or a number of metric calls, not {value!r}")
    return SearchBudget(PRESETS[name], name)
