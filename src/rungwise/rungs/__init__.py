"""The ladder, cheapest and easiest to undo first. Each rung lives in its own module of this package and puts
itself on the ladder with `@register`; every module here is imported when the package is, so adding a rung is
adding one file. A rung defined elsewhere (a plugin, a test) registers the same way.
"""

from __future__ import annotations

import importlib
import pkgutil

from rungwise.rungs.base import (
    GenerationBudget,
    Rung,
    RungContext,
    RungKind,
    RungSkipped,
    SharedResources,
    Variant,
    register,
    registered,
    rung_kind,
    unregister,
)

_SUPPORT = {"base", "constrained", "prompting"}  # modules that define no rung
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _SUPPORT:
        importlib.import_module(f"{__name__}.{_module.name}")


def ladder() -> list[Rung]:
    """A fresh instance of every registered rung, in ladder order."""
    return [cls() for cls in registered()]


def rung_names() -> list[str]:
    """The registered rungs' names, in ladder order."""
    return [cls.name for cls in registered()]


__all__ = ["GenerationBudget", "Rung", "RungContext", "RungKind", "RungSkipped", "SharedResources", "Variant",
           "ladder", "register", "registered", "rung_kind", "rung_names", "unregister"]
