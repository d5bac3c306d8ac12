"""The typed record of a climb: what a climb, a multi-model climb and `rungwise distill` write, what the store
keeps, and the only thing a renderer reads (terminal, HTML pages, `--json`, compare, frontier).

`ClimbRecord` is the result (`ClimbResult.record()`); `ClimbReport` (in `record.py`) wraps it with the run, the
eval rows and every answer. Every number that may be undefined for an eval (no difference detectable with 8 rows,
a cost past any float) is `None`, never NaN: the record's JSON is strict. The published schema is
`docs/record.schema.json` (`python -m rungwise.record.stored` prints it; a test keeps it in step with these
models). A change of shape bumps `REPORT_VERSION` in `record.py` and adds a migration there.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Typed(BaseModel):
    #: fields a later rungwise adds are ignored on read (an older record reads through the migrations)
    model_config = ConfigDict(extra="ignore")


class CostRecord(_Typed):
    """A variant's price per call and per month at the task's volume."""

    variant: str
    cost_per_call: float | None = None
    cost_per_month: float | None = None
    currency: str = ""


class AdapterRecord(_Typed):
    """An adapter a variant stands on: its file and what its training recorded (base model, time, rows, stop)."""

    name: str
    kind: str = ""
    path: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)


class VariantRecord(_Typed):
    """What one variant scored (`summary.VariantSummary`), with its price and its adapters."""

    name: str
    rung: str
    probe: bool = False
    n: int = 0
    score: float | None = None
    low: float | None = None
    high: float | None = None
    method: str = ""
    format_failures: int = 0
    content_failures: int = 0
    mean_prompt_tokens: float | None = None
    mean_completion_tokens: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    seconds_per_example: float | None = None
    extras: dict[str, float | None] = Field(default_factory=dict)
    """Means of per-row figures: recall@k and reciprocal_rank for retrieval, ..."""
    kind: str = ""
    purpose: str = "ladder"
    """`ladder`, `oracle`, `reference`, `curve` or `distilled`."""
    retrieval: bool = False
    twin_of: str | None = None
    derived: int = 0
    description: str = ""
    stopped: dict[str, Any] | None = None
    """Set when scoring stopped early (`early_stop.EarlyStop`: rows, of, score, upper, target, confidence, method)."""
    cost: CostRecord | None = None
    adapters: list[AdapterRecord] = Field(default_factory=list)


class ComparisonRecord(_Typed):
    """A paired test of b against a on the rows both scored."""

    a: str
    b: str
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    method: str = ""
    significant: bool = False
    n: int = 0


class RungVerdictRecord(_Typed):
    rung: str
    best: str
    score: float | None = None
    meets_target: bool = False
    verdict: str = ""
    against: ComparisonRecord | None = None


class DiagnosisRecord(_Typed):
    format_share: float | None = None
    knowledge_gap: bool | None = None
    behavioural_gap: bool = False
    notes: list[str] = Field(default_factory=list)
    cheaper_reference: str | None = None
    behaviour_over_retrieval: str | None = None


class DecisionRecord(_Typed):
    shipped: str | None = None
    rungs: list[RungVerdictRecord] = Field(default_factory=list)
    diagnosis: DiagnosisRecord = Field(default_factory=DiagnosisRecord)
    eval_too_small: bool = False
    minimum_detectable_difference: float | None = None
    """None: no difference is detectable with this many rows."""
    recommendation: str = ""
    comparisons: list[ComparisonRecord] = Field(default_factory=list)
    alternative: str | None = None
    """The variant one might still pick instead of the ship, and why (the ship is a no-LLM reference)."""
    next_step: dict[str, Any] | None = None
    """When the verdict is open: the rows that would likely settle it, their minutes and cost, and the command."""


class FindingRecord(_Typed):
    severity: str
    code: str
    message: str
    rows: list[str] = Field(default_factory=list)
    count: int = 0


class ChecksRecord(_Typed):
    task: str = ""
    findings: list[FindingRecord] = Field(default_factory=list)
    leaked: list[str] = Field(default_factory=list)


class EstimateRecord(_Typed):
    """A variant's tokens and cost before any call (`--dry-run`)."""

    variant: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None


class BudgetRecord(_Typed):
    """The generation budget derived from the output spec."""

    max_tokens: int = 0
    stop: list[str] = Field(default_factory=list)
    reason: str = "unknown"


class FinetuneCostRecord(_Typed):
    """Fine-tuning's whole bill (`costs.FinetuneCost`)."""

    dataset: float | None = None
    training: float | None = None
    retraining_per_year: float | None = None
    eval_runs_per_month: float | None = None
    fixed_per_month: float | None = None
    calls_per_month: float | None = None
    total_per_month: float | None = None
    break_even_calls_per_month: float | None = None
    reference: str | None = None
    hosting_per_month: float | None = None
    """A deployed hosted fine-tune's hosting fee per month (part of fixed_per_month)."""


class PromptSearchRecord(_Typed):
    """What the prompt search did and spent (`rungs.prompt_search`): its budget and split, the dev score before
    (the clear prompt) and after (the winner), the winning instruction, every candidate, and its one-off cost."""

    budget: int = 0
    preset: str = ""
    dev_rows: int = 0
    feedback_rows: int = 0
    proposer: str = ""
    planned: bool = False
    """A dry run: the search was planned, not run."""
    dev_before: float | None = None
    dev_after: float | None = None
    dev_p: float | None = None
    """One-sided exact sign test of the winner against the clear prompt on the dev rows."""
    beats_clear_prompt: bool = False
    """The winner's dev gain is significant (p < 0.05): only then do the rungs above build on it."""
    winner: dict[str, Any] | None = None
    candidates: list[dict[str, Any]] = Field(default_factory=list)
    metric_calls: int = 0
    proposals: int = 0
    rounds: int = 0
    rejected: int = 0
    task_model: dict[str, float] = Field(default_factory=dict)
    """Calls, cache hits and tokens of the task's model answering dev rows."""
    proposer_calls: dict[str, float] = Field(default_factory=dict)
    seconds: float | None = None
    cost: float | None = None
    """The one-off cost of the search: every token it needed, at the task's (and the proposer's) prices."""
    currency: str = ""
    system: str = ""
    """The winning system prompt, whole (what `rungwise export-prompt` writes)."""
    stacked: bool = False
    """Few-shot and rag were built on the winning instruction (it beat the clear prompt on dev, significantly;
    [prompt] stack)."""
    log: list[str] = Field(default_factory=list)


class ClimbRecord(_Typed):
    """A climb's result: every figure its decision rests on, and the decision."""

    run_id: str
    task: str
    model: str
    """The model's fingerprint."""
    target: float = 0.0
    metric: str = ""
    n_eval: int = 0
    shipped: str | None = None
    recommendation: str = ""
    budget: BudgetRecord = Field(default_factory=BudgetRecord)
    skipped: dict[str, str] = Field(default_factory=dict)
    """Rungs not climbed, and why."""
    variants: list[VariantRecord] = Field(default_factory=list)
    decision: DecisionRecord | None = None
    checks: ChecksRecord | None = None
    estimates: list[EstimateRecord] = Field(default_factory=list)
    calls: int = 0
    cache_hits: int = 0
    resumed: int = 0
    derived: int = 0
    server_failures: int = 0
    """Rows the server failed (answers that were not a chat completion after every retry)."""
    served_model: str | None = None
    server_kind: str | None = None
    capabilities: dict[str, Any] | None = None
    served_models: list[str] = Field(default_factory=list)
    served_model_changed: str | None = None
    """Set when the server answered with more than one model during the climb."""
    token_counts: str | None = None
    """How the estimates' token counts were made, where not by the server's tokenizer."""
    finetune_costs: dict[str, FinetuneCostRecord] = Field(default_factory=dict)
    prompt_search: dict[str, PromptSearchRecord] = Field(default_factory=dict)
    """Per prompt-search variant: its search (candidates, dev scores, calls, one-off cost)."""
    stale_adapters: dict[str, str] = Field(default_factory=dict)
    """Variant -> the base model its adapter was trained on, where that is not the model served now."""
    curves: list[dict[str, Any]] = Field(default_factory=list)
    """Learning curves (`curves.LearningCurve.to_dict()`), with --curve."""
    distill: dict[str, Any] | None = None
    """What `rungwise distill` added (`distill.DistillResult`), when it ran on this run."""
    frontier: dict[str, Any] | None = None
    """The frontier across models (`frontier.Frontier.to_dict()`), on each run of a multi-model climb."""
    decide: dict[str, Any] | None = None
    """The looks of `climb --decide` (`sequential`): the schedule, each look's rows, levels, intervals and claims,
    and why it stopped."""

    def variant(self, name: str | None) -> VariantRecord | None:
        return next((v for v in self.variants if v.name == name), None)

    @property
    def currency(self) -> str:
        return next((v.cost.currency for v in self.variants if v.cost is not None), "")

    def adapters(self) -> dict[str, list[AdapterRecord]]:
        """Per variant, the adapters it stands on."""
        return {v.name: list(v.adapters) for v in self.variants if v.adapters}
