"""How to climb: `ClimbOptions`, validated, with an explicit "not set" for what defaults to the task's setting."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import core_schema

from rungwise.errors import OptionsError


class NotSet:
    """'Not set: use the task's own setting.' Distinct from None, which some settings use for 'all'."""

    _instance: NotSet | None = None

    def __new__(cls) -> NotSet:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_SET"

    def __bool__(self) -> bool:
        return False

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(cls)


#: the sentinel: this option takes the task's own setting
NOT_SET = NotSet()

LeakagePolicy = Literal["stop", "drop", "warn"]


class ClimbOptions(BaseModel):
    """How to climb. Every field has a default; the CLI maps its flags onto these. Fields that default to the
    task's own setting (task.toml) hold `NOT_SET` until given (None is read as not set)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise options_error(exc) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise options_error(exc) from None

    full: bool = False
    """Score every eval row instead of the task's seeded sample."""
    all_rungs: bool = False
    """Keep climbing after a rung meets the target."""
    rungs: list[str] | None = None
    """Only these rungs (ladder order is kept); None: every registered rung."""
    proposer: str | None = None
    """The model that proposes instructions to the prompt search: `local` or `URL#model-name`; None: the task's
    [prompt] proposer, else the task's own model."""
    cancel_remote: bool = False
    """Cancelled while a hosted fine-tuning job runs, cancel the job at the provider too (else it goes on there,
    and the same climb run again follows it)."""
    base_weights: Path | None = None
    """The Hugging Face folder of the model the climb runs on, for the fine-tune rung (TRL trains a LoRA on it and
    the endpoint's server serves it); None: the task's [finetune] base_weights."""
    accelerate_config: Path | None = None
    """Train under `accelerate launch` with this config (several GPUs or nodes); None: the task's [finetune]."""
    variants: list[str] | None = None
    """Only these variants of the rungs that run (by name, e.g. `fewshot-knn-constrained`); None: all of them."""
    concurrency: int | None = Field(default=None, ge=1)
    """Requests in flight; None: what the backend serves well."""
    store_path: str | Path | None = None
    """The store: a SQLite file's path or a postgresql:// URL; None: $RUNGWISE_STORE or .rungwise/rungwise.db."""
    resume: bool = True
    """Continue the latest unfinished run of the same task, model and settings."""
    cache_dir: Path | None = None
    """Where embeddings, retrieval indexes and adapters are cached (default ~/.cache/rungwise or RUNGWISE_CACHE_DIR)."""
    dry_run: bool = False
    """Estimate tokens and cost of every variant; call no model."""
    max_cost: float | None = Field(default=None, ge=0)
    """Stop before a variant whose estimated cost would take the climb past this amount; None: no cap."""
    curve: bool = False
    """Also score the kNN few-shot and fine-tune variants on smaller pools (learning curves: the rows a target
    needs); a task that sets `[fewshot] curve` or `[finetune] curve` gets them without it."""
    early_stop: bool = True
    """Stop scoring a ladder variant at a look (20, 50, 100 rows) once its upper confidence bound is below the
    target (see rungwise.judge.early_stop); False: score every variant on every eval row."""
    decide: bool | NotSet = NOT_SET
    """Score more rows, continuing the seeded order, of the variants an open verdict rests on, in looks, until it
    resolves at a controlled error, the budget is spent or the rows run out (see rungwise.judge.sequential); not set: the
    task's [eval] decide."""
    decide_budget: str | None = None
    """What those rows may cost: "1500 rows", "30 min" or "2.5 USD"; None: the task's, else the eval file's rows.
    Setting it turns `decide` on."""
    leakage: LeakagePolicy | NotSet = NOT_SET
    """Override the task's [checks] leakage policy: stop, drop or warn."""
    sample: int | NotSet = NOT_SET
    """Override the task's [eval] sample size (rows drawn at random with the seed)."""
    seed: int | NotSet = NOT_SET
    """Override the task's [eval] seed (the gate re-scores a baseline's own rows with it)."""
    timeout_s: float | NotSet = NOT_SET
    """Seconds to wait for each answer, per attempt: overrides the task's `[model] timeout_s` (itself overridden
    by RUNGWISE_TIMEOUT); not set anywhere, the backend's default (15 s, the embedded model 120 s)."""
    retries: int | NotSet = NOT_SET
    """Attempts after the first on timeouts, 429/5xx and malformed answers: overrides the task's `[model] retries`
    (itself overridden by RUNGWISE_RETRIES); not set anywhere, the backend's default (3)."""

    @field_validator("decide_budget")
    @classmethod
    def _decide_budget(cls, value: str | None) -> str | None:
        if value is not None:
            from rungwise.judge.sequential import parse_budget

            parse_budget(value)  # a ValueError: one OptionsError line naming the option
        return value

    @field_validator("variants")
    @classmethod
    def _variant_names(cls, value: list[str] | None) -> list[str] | None:
        """Names as a user lists them ("a, b"): stripped, empty ones dropped; none left is no filter."""
        names = [v.strip() for v in value or [] if v.strip()]
        return names or None

    @field_validator("leakage", "sample", "seed", "decide", "timeout_s", "retries", mode="before")
    @classmethod
    def _none_is_not_set(cls, value: Any) -> Any:
        return NOT_SET if value is None else value

    @field_validator("sample")
    @classmethod
    def _positive(cls, value: int | NotSet) -> int | NotSet:
        if isinstance(value, int) and value < 1:
            raise ValueError("sample must be at least 1 (use full=True for every row)")
        return value

    @field_validator("timeout_s")
    @classmethod
    def _positive_seconds(cls, value: float | NotSet) -> float | NotSet:
        if isinstance(value, float | int) and not (math.isfinite(value) and value > 0):
            raise ValueError("a timeout is a positive number of seconds")
        return value

    @field_validator("retries")
    @classmethod
    def _no_negative_retries(cls, value: int | NotSet) -> int | NotSet:
        if isinstance(value, int) and value < 0:
            raise ValueError("retries are 0 or more")
        return value


def options_error(exc: ValidationError) -> OptionsError:
    """A ValidationError of an options model as one line: each wrong option, what it takes and what it got."""
    by_field: dict[str, Any] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "options"
        # a field that may also be NOT_SET fails both ways: the NOT_SET branch says nothing useful
        if err["type"] == "is_instance_of" and name in by_field:
            continue
        if name not in by_field or by_field[name]["type"] == "is_instance_of":
            by_field[name] = dict(err)
    parts = []
    for name, err in by_field.items():
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parts.append(f"{exc.title} has no option {name!r}")
        else:
            given = f"{err.get('input')!r}"
            tail = "" if given in message else f", not {given}"  # a validator's own message may name it already
            parts.append(f"option {name}: {message[:1].lower()}{message[1:]}{tail}")
    return OptionsError("; ".join(parts) + ".")
