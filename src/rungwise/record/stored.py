"""The versioned record a climb's report is rendered from: everything every renderer needs, stored with the run.

A stored run can always be shown again, without its task folder and without live objects: the record holds the
climb's typed result (`record.schema.ClimbRecord`, from `ClimbResult.record()`), the eval rows scored (id, input,
expected answer), every variant's answer, score and failure kind per row, and the run's artifacts (adapters). The
terminal, the HTML pages, `--json` and compare read it, and nothing else: the live climb renders the record it
stored, so `rungwise show RUN` prints what the climb printed.

Versions: a record carries `version`. A record of an older version is migrated on read (`MIGRATIONS`, one step per
version); a newer record is a StoreError that says to upgrade. A run finished by a rungwise without records gets
one rebuilt from the run's summary and its results (the eval inputs and expected answers were not stored then, so
they show as unknown). `python -m rungwise.record.stored` prints the record's JSON Schema
(docs/record.schema.json).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from rungwise.errors import StoreError
from rungwise.outputs import finite
from rungwise.record.schema import AdapterRecord, ClimbRecord, VariantRecord
from rungwise.store import RunInfo, Store

if TYPE_CHECKING:
    from rungwise.judge.summary import VariantSummary
    from rungwise.task.data import Example

#: the record version this rungwise writes (and the newest it reads)
REPORT_VERSION = 2


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EvalRow(_Record):
    """One eval row the climb scored."""

    id: str
    input: str | None = None
    """None when the run was stored before inputs were recorded."""
    target: str | None = None


class VariantRows(_Record):
    """One variant's answers, aligned with `ClimbReport.rows` (None where the variant did not score the row)."""

    output: list[str | None]
    score: list[float | None]
    failure: list[str | None]


class Artifact(_Record):
    name: str
    kind: str
    path: str
    meta: dict[str, Any] = Field(default_factory=dict)
    stale: bool | None = None
    """True when the adapter's base model is not the run's model; None when the data cannot tell."""


class RunMeta(_Record):
    id: str
    task: str
    task_folder: str = ""
    task_hash: str = ""
    model: str
    """The model's fingerprint."""
    served_model: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    status: str = "done"
    created_at: float | None = None
    finished_at: float | None = None
    rungwise_version: str | None = None


class ClimbReport(_Record):
    """Everything a report shows, for one run."""

    version: int = REPORT_VERSION
    run: RunMeta
    result: ClimbRecord
    """The climb's result: variants with scores, intervals, tokens, latency, costs and adapters; the decision;
    checks; fine-tuning's costs; estimates; the generation budget; the warnings the climb printed."""
    rows: list[EvalRow]
    variants: dict[str, VariantRows]
    artifacts: list[Artifact] = Field(default_factory=list)
    rebuilt: bool = False
    """True when the record was rebuilt from a run stored without one."""
    notes: list[str] = Field(default_factory=list)

    def dumps(self) -> str:
        return self.model_dump_json()


def base_of(fingerprint: str) -> str:
    """The base-model part of a model fingerprint, as adapters record it: `embedded:ALIAS:DIGEST+lora:...` gives
    `embedded:DIGEST`; any other fingerprint is its part before the first '+'."""
    head = fingerprint.split("+", 1)[0]
    parts = head.split(":")
    if parts[0] == "embedded" and len(parts) >= 3:
        return f"embedded:{parts[-1]}"
    return head


def _artifacts(store: Store, run: RunInfo) -> list[Artifact]:
    base = base_of(run.model)
    out = []
    for a in store.artifacts(run.id):
        recorded = a["meta"].get("base_model")
        stale = None if not recorded else str(recorded) != base
        out.append(Artifact(name=a["name"], kind=a["kind"], path=a["path"], meta=finite(a["meta"]), stale=stale))
    return out


def _variant_rows(store: Store, run_id: str, order: list[str], rows: list[EvalRow]) -> dict[str, VariantRows]:
    index = {r.id: i for i, r in enumerate(rows)}
    by_variant: dict[str, VariantRows] = {}
    for r in store.results(run_id):
        if r.example_id not in index:  # a row the record does not list (older store): add it, input unknown
            index[r.example_id] = len(rows)
            rows.append(EvalRow(id=r.example_id))
            for grown in by_variant.values():
                grown.output.append(None)
                grown.score.append(None)
                grown.failure.append(None)
        found = by_variant.get(r.variant)
        if found is None:
            n = len(rows)
            found = by_variant[r.variant] = VariantRows(output=[None] * n, score=[None] * n, failure=[None] * n)
        v = found
        i = index[r.example_id]
        v.output[i], v.score[i], v.failure[i] = r.output, finite(r.score), r.failure
    ranked = {name: k for k, name in enumerate(order)}
    return dict(sorted(by_variant.items(), key=lambda kv: ranked.get(kv[0], len(ranked))))


def _meta(run: RunInfo, result: ClimbRecord, version: str | None) -> RunMeta:
    return RunMeta(
        id=run.id, task=run.task_name, task_folder=run.task_folder, task_hash=run.task_hash, model=run.model,
        served_model=result.served_model, settings=finite(run.settings), status=run.status,
        created_at=run.created_at, finished_at=run.finished_at, rungwise_version=version,
    )


def build_report(result: ClimbRecord, store: Store, examples: Sequence[Example]) -> ClimbReport:
    """The record of a finished climb: its result, the eval rows it scored and every answer, from the store."""
    from rungwise import __version__

    run = store.get_run(result.run_id)
    artifacts = _artifacts(store, run)
    record = with_artifacts(result, artifacts)
    rows = [EvalRow(id=ex.id, input=ex.input, target=ex.target) for ex in examples]
    variants = _variant_rows(store, run.id, [v.name for v in record.variants], rows)
    return ClimbReport(run=_meta(run, record, __version__), result=record, rows=rows, variants=variants,
                       artifacts=artifacts)


def with_artifacts(record: ClimbRecord, artifacts: Sequence[Artifact]) -> ClimbRecord:
    """The record with every adapter the run stored listed under the variant it is named after (a fine-tune's
    adapter is), and every stale one (trained on another base than the run's model) in `stale_adapters`."""
    variants, stale = [], dict(record.stale_adapters)
    for v in record.variants:
        listed = {a.name for a in v.adapters}
        extra = [AdapterRecord(name=a.name, kind=a.kind, path=a.path, meta=a.meta)
                 for a in artifacts if a.name == v.name and a.name not in listed]
        adapters = [*v.adapters, *extra]
        for a in artifacts:
            if a.stale and any(x.name == a.name for x in adapters):
                stale.setdefault(v.name, str(a.meta.get("base_model")))
        variants.append(v.model_copy(update={"adapters": adapters}) if extra else v)
    return record.model_copy(update={"variants": variants, "stale_adapters": stale})


def save_report(store: Store, report: ClimbReport) -> None:
    store.save_report(report.run.id, report.version, report.dumps())


def rebuild_report(store: Store, run: RunInfo) -> ClimbReport:
    """A record for a run stored without one, from `runs.summary_json` and the results."""
    if run.summary is None:
        raise StoreError(
            f"Run {run.id} has no result to report (status {run.status!r}: it was interrupted or is still climbing). "
            "Run the same `rungwise climb` command again to finish it (it resumes), then report it."
        )
    artifacts = _artifacts(store, run)
    record = with_artifacts(result_record(run.summary, run), artifacts)
    rows: list[EvalRow] = []
    variants = _variant_rows(store, run.id, [v.name for v in record.variants], rows)
    return ClimbReport(
        run=_meta(run, record, None), result=record, rows=rows, variants=variants, artifacts=artifacts,
        rebuilt=True,
        notes=["This run was stored by an older rungwise, without its eval inputs and expected answers: "
               "rows show their ids only. Climb again to record them."],
    )


def load_report(store: Store, run_id: str) -> ClimbReport:
    """The stored record of `run_id` (an id or a unique prefix), or one rebuilt for an older run."""
    run = store.get_run(run_id)
    stored = store.load_report(run.id)
    if stored is None:
        return rebuild_report(store, run)
    version, blob = stored
    if version > REPORT_VERSION:
        raise StoreError(
            f"The report of run {run.id} was written by a newer rungwise (record version {version}; this one reads "
            f"up to {REPORT_VERSION}). Upgrade rungwise (pip install -U rungwise) to show it."
        )
    try:
        return ClimbReport.model_validate(migrate(version, json.loads(blob)))
    except ValueError as exc:
        raise StoreError(f"The stored report of run {run.id} cannot be read ({str(exc).splitlines()[0]}). "
                         f"Climb again to record a new one.") from None


def record_climb(result: ClimbRecord, store: Store, examples: Sequence[Example]) -> ClimbReport:
    """Build the record of a finished climb and store it with the run."""
    report = build_report(result, store, examples)
    save_report(store, report)
    return report


def amend_record(store: Store, run_id: str, summaries: Sequence[VariantSummary], costs: dict[str, dict[str, Any]],
                 distill: dict[str, Any]) -> ClimbReport:
    """Add variants scored after the climb (`rungwise distill`) to a finished run: its result and its record gain
    their summaries, costs, adapters, answers and the `distill` section; the climb's decision is left as it was."""
    report = load_report(store, run_id)
    names = {s.name for s in summaries}
    adapters = {a["name"]: a for a in store.artifacts(report.run.id)}
    added = [VariantRecord.model_validate(finite({
        **s.to_dict(), "cost": costs.get(s.name),
        "adapters": [{"name": n, "kind": a["kind"], "path": a["path"], "meta": a["meta"]}
                     for n, a in adapters.items() if n == s.name]})) for s in summaries]
    kept = [v for v in report.result.variants if v.name not in names]
    result = report.result.model_copy(update={"variants": kept + added, "distill": finite(distill)})
    store.set_summary(report.run.id, result.model_dump(mode="json"))
    rows = list(report.rows)
    order = [v.name for v in result.variants]
    amended = report.model_copy(update={"result": result, "variants": _variant_rows(store, report.run.id, order, rows),
                                        "rows": rows, "artifacts": _artifacts(store, store.get_run(report.run.id))})
    save_report(store, amended)
    return amended


def result_record(summary: dict[str, Any], run: RunInfo | None = None) -> ClimbRecord:
    """A run's stored summary (`ClimbResult.to_dict()`, as every rungwise stored it) as a typed record."""
    data = finite(summary)
    if run is not None:
        data.setdefault("run_id", run.id)
        data.setdefault("task", run.task_name)
        data.setdefault("model", run.model)
    return ClimbRecord.model_validate(data)


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the result as an untyped `ClimbResult.to_dict()`, whose keys version 2 types as they were;
    what version 1 left out (a run id in the result of an older climb) is taken from the run."""
    result = dict(data.get("result") or {})
    run = data.get("run") or {}
    result.setdefault("run_id", run.get("id", ""))
    result.setdefault("task", run.get("task", ""))
    result.setdefault("model", run.get("model", ""))
    return {**data, "result": result, "version": 2}


#: version -> the step that makes a record of that version one of the next
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(version: int, data: dict[str, Any]) -> dict[str, Any]:
    """A stored record of `version` as one of REPORT_VERSION, step by step."""
    while version < REPORT_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    return data


def dumps_for_script(data: Any) -> str:
    """JSON that can sit inside a <script type="application/json"> element: no '<', '>' or '&' (so no
    '</script>' nor '<!--'), and U+2028/U+2029 escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


if __name__ == "__main__":  # the published schema: python -m rungwise.record.stored > docs/record.schema.json
    print(json.dumps(ClimbReport.model_json_schema(), indent=2, sort_keys=True))
