"""Dataset checks, run by `rungwise check` and at the start of every climb: an honest eval comes first.

- leakage: eval inputs that also sit in train, exactly (after folding case, punctuation and whitespace) or
  nearly (embedding cosine similarity at or above NEAR_DUPLICATE, with the same target);
- duplicates within a split, and identical inputs with different targets (conflicts);
- targets that break the output spec (JSON targets with keys outside the fields, or missing required keys);
- label imbalance and labels with no train example;
- an eval set too small for the task's target.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rungwise.errors import TaskError
from rungwise.judge import stats
from rungwise.task.data import Example, fold
from rungwise.task.spec import Task

#: MiniLM cosine at or above which two inputs count as the same question. At 0.95 banking77 flags 918 eval
#: rows that are paraphrases ("My card has not arrived yet." ~ "My card hasn't arrived."); at 0.98 it flags 285
#: that differ by a word or two ("How do I find the exchange rate?" ~ "How do you find the exchange rate?"),
#: 278 of them with the train twin's label.
NEAR_DUPLICATE = 0.98
Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str
    #: ids of the rows concerned (a few, for the report)
    rows: list[str] = field(default_factory=list)
    count: int = 0


@dataclass
class CheckReport:
    task: str
    findings: list[Finding]
    #: eval row ids that leak from train (exactly or nearly)
    leaked: set[str] = field(default_factory=set)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "findings": [asdict(f) for f in self.findings], "leaked": sorted(self.leaked)}


def _groups(rows: Sequence[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in rows:
        groups[fold(ex.input)].append(ex)
    return groups


def exact_leaks(task: Task) -> set[str]:
    train = {fold(ex.input) for ex in task.train}
    return {ex.id for ex in task.eval if fold(ex.input) in train}


def near_leaks(task: Task, embedder: Any, cache_dir: Any = None, threshold: float = NEAR_DUPLICATE) -> dict[str, tuple[str, float]]:
    """Eval rows with a train row at cosine >= threshold *and the same answer*: {eval id: (train id, similarity)}.

    A near-identical train input with another target is not leakage: memorising it gives the wrong answer
    ("eighteen thousand five hundred seventy eight dollars" -> $18578 sits at cosine 1.00 from "... eight hundred
    seventy five dollars" -> $18875, since MiniLM barely sees word order).
    """
    if not task.train:
        return {}
    import numpy as np

    from rungwise.retrieval.embeddings import encode_cached

    train_vecs = encode_cached(embedder, [ex.input for ex in task.train], cache_dir)
    eval_vecs = encode_cached(embedder, [ex.input for ex in task.eval], cache_dir)
    is_json = task.spec.output.type == "json"
    train_targets = [_answer_keys(ex, is_json) for ex in task.train]
    found: dict[str, tuple[str, float]] = {}
    for start in range(0, len(task.eval), 512):
        sims = eval_vecs[start : start + 512] @ train_vecs.T
        for row in np.flatnonzero(sims.max(axis=1) >= threshold):
            ex = task.eval[start + int(row)]
            answers = _answer_keys(ex, is_json)
            candidates = np.flatnonzero(sims[row] >= threshold)
            for j in candidates[np.argsort(-sims[row, candidates], kind="stable")]:
                if train_targets[int(j)] & answers:
                    found[ex.id] = (task.train[int(j)].id, float(sims[row, j]))
                    break
    return found


def _answer_keys(ex: Example, is_json: bool) -> set[str]:
    """The row's acceptable answers, compared as the metric would: folded text, or JSON with sorted keys."""
    if is_json:
        try:
            return {json.dumps(json.loads(ex.target), sort_keys=True)}
        except ValueError:
            return {ex.target}
    return {fold(answer) for answer in ex.answers}


def _spec_breaks(task: Task) -> list[Finding]:
    if task.spec.output.type != "json":
        return []
    allowed = set(task.json_fields or [])
    schema = task.spec.output.json_schema or {}
    required = set(schema.get("required", [])) if isinstance(schema, dict) else set()
    out: list[Finding] = []
    for split, rows in (("train", task.train), ("eval", task.eval)):
        bad = []
        for ex in rows:
            obj = json.loads(ex.target)
            keys = set(obj)
            if (allowed and not keys <= allowed) or not required <= keys:
                bad.append(ex.id)
        if bad:
            out.append(Finding("warning", "target-breaks-spec",
                               f"{len(bad)} {split} targets use keys outside the output fields or miss required ones; "
                               "the prompt and the constrained variant cannot produce them", bad[:5], len(bad)))
    return out


def run_checks(task: Task, *, embedder: Any | None = None, cache_dir: Any = None, near: bool = True) -> CheckReport:
    findings: list[Finding] = []
    leaked = exact_leaks(task)
    if leaked:
        findings.append(Finding("error", "leakage-exact",
                                f"{len(leaked)} eval inputs also occur in train after folding case, punctuation and "
                                "whitespace: their scores measure memory, not skill", sorted(leaked)[:5], len(leaked)))
    if near and task.spec.checks.near_duplicates and task.train:  # the task may turn near-duplicate checks off
        if embedder is None:
            from rungwise.retrieval.embeddings import default_embedder
            embedder = default_embedder()
        nearly = {k: v for k, v in near_leaks(task, embedder, cache_dir).items() if k not in leaked}
        if nearly:
            sample = [f"{k}~{v[0]} ({v[1]:.2f})" for k, v in sorted(nearly.items())[:5]]
            findings.append(Finding("error", "leakage-near",
                                    f"{len(nearly)} eval inputs have a near-identical train input with the same target "
                                    f"(embedding similarity >= {NEAR_DUPLICATE})", sample, len(nearly)))
            leaked |= set(nearly)
    for split, rows in (("train", task.train), ("eval", task.eval)):
        groups = _groups(rows)
        dups = [g for g in groups.values() if len(g) > 1]
        conflicts = [g for g in dups if len({ex.target for ex in g}) > 1]
        if dups:
            findings.append(Finding("warning", f"duplicates-{split}",
                                    f"{sum(len(g) - 1 for g in dups)} {split} rows repeat an earlier input",
                                    [g[1].id for g in dups[:5]], sum(len(g) - 1 for g in dups)))
        if conflicts:
            findings.append(Finding("warning", f"conflicts-{split}",
                                    f"{len(conflicts)} {split} inputs appear with different targets: no answer can be "
                                    "right for all of them", [g[0].id for g in conflicts[:5]], len(conflicts)))
    findings += _spec_breaks(task)
    if task.labels is not None and task.train:
        counts = Counter(ex.target for ex in task.train)
        missing = [label for label in task.labels if counts[label] == 0]
        if missing:
            findings.append(Finding("warning", "labels-without-examples",
                                    f"{len(missing)} labels have no train example: few-shot and fine-tuning never see them",
                                    missing[:5], len(missing)))
        present = [c for c in counts.values() if c]
        if present and max(present) > 10 * min(present):
            common, rare = counts.most_common()[0], min(counts.items(), key=lambda kv: kv[1])
            findings.append(Finding("warning", "label-imbalance",
                                    f"train labels are imbalanced: '{common[0]}' has {common[1]} rows, '{rare[0]}' {rare[1]}",
                                    count=len(counts)))
    findings += _size_findings(task)
    return CheckReport(task.name, findings, leaked)


def _size_findings(task: Task) -> list[Finding]:
    n = min(len(task.eval), task.spec.eval.sample or len(task.eval))
    target = task.spec.target
    ci = stats.wilson_interval(round(target * n), n)
    half = (ci.high - ci.low) / 2
    need = stats.required_eval_size(0.05, max(0.01, min(0.94, target - 0.05)))
    mdd = stats.minimum_detectable_difference(n, min(0.99, max(0.01, target - 0.1)))
    message = (f"{n} eval rows: a score at the target ({target:.0%}) has a 95% interval of ±{half:.1%}; the smallest "
               f"paired difference between rungs it detects at 80% power is {stats.describe_detectable(mdd)}; telling rungs 5 points "
               f"apart near the target needs about {need} rows")
    severity: Severity = "warning" if half > 0.05 or n < 100 else "info"
    return [Finding(severity, "eval-size", message, count=n)]


def drop_leaked(task: Task, leaked: set[str]) -> Task:
    """The same task without the leaked eval rows; a TaskError when none would be left to score."""
    import dataclasses

    kept = [ex for ex in task.eval if ex.id not in leaked]
    if not kept:
        raise TaskError(f"{task.folder / 'eval.jsonl'}: every one of its {len(task.eval)} rows also sits in train, so "
                        "--leakage drop leaves nothing to score. Hold out eval rows that are not in train.jsonl.")
    return dataclasses.replace(task, eval=kept)

