"""The CI gate: re-score a baseline run's rungs on the baseline's own eval rows (its sample and seed) with the
current model and prompts, and compare paired, variant by variant.

Each variant gets one verdict:

    regressed      significantly worse than the baseline (the paired test, p < 0.05)
    inferior       with `margin`: the difference itself is a drop of at least the margin
    underpowered   with `margin`: the drop seen is smaller than the margin, but the eval is too small to rule out
                   one larger (the 95% interval's low end reaches -margin); `rows_needed` says how many rows would
    ok             none of these

The gate fails on any verdict but `ok`; an `underpowered` one passes only with `allow_underpowered`. Without a
margin the gate fails on significant regressions alone (and a small eval can hide a real drop: say so in CI by
setting one). The margin is a non-inferiority test on the paired difference's 95% interval (one-sided 2.5%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree

from rungwise.engine.compare import ModelChange, VariantDiff, compare_runs, model_change
from rungwise.engine.job import ClimbResult, climb
from rungwise.engine.options import NOT_SET, ClimbOptions
from rungwise.errors import StoreError
from rungwise.models.base import Model
from rungwise.store import Store
from rungwise.task.spec import Task
from rungwise.textsafe import xml_text

Status = Literal["ok", "regressed", "inferior", "underpowered"]


@dataclass(frozen=True)
class GateVerdict:
    """One variant's verdict, with the comparison it rests on."""

    diff: VariantDiff
    status: Status
    #: for `underpowered`: about how many rows would rule out a drop of the margin (if the difference held)
    rows_needed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.diff.to_dict(), "status": self.status, "rows_needed": self.rows_needed}


def judge(diff: VariantDiff, margin: float | None) -> GateVerdict:
    """The verdict on one variant (see the module docstring)."""
    if diff.regressed:
        return GateVerdict(diff, "regressed")
    if margin is None or diff.low > -margin:
        return GateVerdict(diff, "ok")
    if diff.difference <= -margin:
        return GateVerdict(diff, "inferior")
    # the interval's half-width shrinks as 1/sqrt(n): rows at which it would fit between the difference and -margin
    half = (diff.high - diff.low) / 2
    room = margin + min(diff.difference, 0.0)
    needed = math.ceil(diff.n * (half / room) ** 2) if room > 0 else None
    return GateVerdict(diff, "underpowered", needed)


@dataclass
class GateResult:
    baseline_run: str
    result: ClimbResult
    diffs: list[VariantDiff]
    margin: float | None = None
    allow_underpowered: bool = False
    verdicts: list[GateVerdict] = field(default_factory=list)
    #: the model of the new run against the baseline's (served models, stale adapters)
    model: ModelChange | None = None

    def __post_init__(self) -> None:
        if not self.verdicts:
            self.verdicts = [judge(d, self.margin) for d in self.diffs]

    @property
    def regressed(self) -> list[VariantDiff]:
        return [d for d in self.diffs if d.regressed]

    @property
    def failures(self) -> list[GateVerdict]:
        """The verdicts that fail the gate."""
        return [v for v in self.verdicts
                if v.status in ("regressed", "inferior") or (v.status == "underpowered" and not self.allow_underpowered)]

    @property
    def passed(self) -> bool:
        return not self.failures

    def verdict_line(self) -> str:
        """The gate's answer in one line, for a CI log."""
        against = f"against run {self.baseline_run} (new run {self.result.run_id})"
        rule = f"margin {self.margin * 100:g} points" if self.margin is not None else "no margin: significant drops only"
        if self.model is not None and self.model.changed:
            against += ", on another model than the baseline's"
        if self.passed:
            short = [v for v in self.verdicts if v.status == "underpowered"]
            note = f"; {len(short)} variant(s) underpowered, allowed" if short else ""
            return f"gate passed {against}, {len(self.verdicts)} variant(s), {rule}{note}."
        counts: dict[str, int] = {}
        for v in self.failures:
            counts[v.status] = counts.get(v.status, 0) + 1
        what = ", ".join(f"{n} {status}" for status, n in counts.items())
        return f"gate failed {against}: {what} ({rule})."

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "verdict": self.verdict_line(), "baseline_run": self.baseline_run,
                "run_id": self.result.run_id, "margin": self.margin, "allow_underpowered": self.allow_underpowered,
                "variants": [v.to_dict() for v in self.verdicts],
                "model": self.model.to_dict() if self.model is not None else None}

    def junit_xml(self) -> str:
        """The verdicts as a JUnit XML test suite (one test case per variant), which CI systems show natively.
        Every text passes `xml_text`: a task or variant name holding a control character still makes a
        well-formed document."""
        x = xml_text
        task = x(self.result.task)
        suite = ElementTree.Element("testsuite", name=f"rungwise gate {task}", tests=str(len(self.verdicts)),
                                    failures=str(len(self.failures)), errors="0", skipped="0")
        failing = {id(v) for v in self.failures}
        for v in self.verdicts:
            d = v.diff
            case = ElementTree.SubElement(suite, "testcase", classname=f"rungwise.engine.gate.{task}", name=x(d.variant))
            detail = x(f"{d.variant}: {d.score_a:.1%} -> {d.score_b:.1%} ({d.difference * 100:+.1f} points, 95% CI "
                       f"[{d.low * 100:+.1f}, {d.high * 100:+.1f}], p={d.p_value:.3g}, n={d.n}) against run "
                       f"{self.baseline_run}" + (f"; about {v.rows_needed} rows would rule out the margin"
                                                  if v.rows_needed else ""))
            if id(v) in failing:
                ElementTree.SubElement(case, "failure", message=v.status, type=v.status).text = detail
            else:
                ElementTree.SubElement(case, "system-out").text = f"{v.status}: {detail}"
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(suite, encoding="unicode") + "\n"


def gate(task: Task | str | Path, baseline: str | None = None, model: str | Model = "local", *,
         store_path: str | Path | None = None, margin: float | None = None,
         allow_underpowered: bool = False, timeout_s: float | None = None, retries: int | None = None) -> GateResult:
    """Re-score `baseline`'s rungs (a run id or prefix; None: the task's baseline, `rungwise baseline set`) on its
    own rows and judge each variant (see the module docstring). `timeout_s`/`retries`: the model's deadlines
    (None: the task's `[model]` values, else the backend's), as for a climb."""
    if margin is not None and not 0 < margin < 1:
        raise ValueError(f"the margin is a share of the score between 0 and 1 (0.02 is 2 points), not {margin}")
    loaded = task if isinstance(task, Task) else Task.load(task)
    with Store(store_path) as store:
        if baseline is None:
            baseline = store.baseline(loaded.name)
            if baseline is None:
                raise StoreError(f"Task {loaded.name!r} has no baseline in {store.name}. Promote a run with: rungwise "
                                 f"baseline set {loaded.folder} RUN, or pass --baseline RUN.")
        ref = store.get_run(baseline)
        # a fine-tune `rungwise distill` added after the climb is not one of the climb's rungs
        rungs = sorted({rung for _, rung, config in store.variants(ref.id) if config.get("purpose") != "distilled"})
        settings = ref.settings
        options = ClimbOptions(full=bool(settings.get("full")), all_rungs=True, rungs=rungs, store_path=store_path,
                               resume=False, leakage=settings.get("leakage"),
                               sample=settings.get("sample") if not settings.get("full") else NOT_SET,
                               # every row: a regression must not be stopped early into a weaker test
                               seed=settings.get("seed"), early_stop=False, decide=False, timeout_s=timeout_s,
                               retries=retries)
        result = climb(loaded, model, options)
        return GateResult(ref.id, result, compare_runs(store, ref.id, result.run_id), margin, allow_underpowered,
                          model=model_change(store, ref.id, result.run_id))
