"""A task folder: task.toml (validated), train.jsonl, eval.jsonl and an optional corpus.

    task.toml     name, the baseline instruction, output spec, metric, target, volume and prices
    train.jsonl   the pool for few-shot examples and fine-tuning    {"input": ..., "target": ...}
    eval.jsonl    held out: never used for selection, retrieval tuning or training
    corpus.jsonl  optional knowledge for the rag rung                {"id": ..., "text": ...}
"""

from __future__ import annotations

import difflib
import json
import random
import re
import tomllib
import typing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rungwise.errors import DataError, TaskError
from rungwise.task.data import MAX_LINE_BYTES, Example, label_key, read_bounded, read_examples
from rungwise.textsafe import file_stem, storable


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OutputSpec(_Spec):
    """What a correct answer looks like."""

    type: Literal["label", "json", "text"] = "text"
    """`label`: one of a fixed set; `json`: an object (a schema or named fields); `text`: free text."""
    labels: list[str] | None = None
    """The label set, inline (label tasks)."""
    labels_file: str | None = None
    """A JSON file holding the label list, relative to the task folder (label tasks)."""
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    """A JSON schema for the answer (json tasks)."""
    fields: list[str] | None = None
    """The answer object's field names, when there is no schema (json tasks)."""
    description: str | None = None
    """How the answer should look, in words (used by the prompt rung)."""
    constrained: bool = True
    """Also score variants whose output the backend constrains to the labels or schema (where it can)."""

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str] | None) -> list[str] | None:
        problem = None if v is None else label_set_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _check(self) -> OutputSpec:
        if self.type == "label" and not (self.labels or self.labels_file):
            raise ValueError("a label task needs `labels = [...]` or `labels_file = \"labels.json\"`")
        if self.type != "label" and (self.labels or self.labels_file):
            raise ValueError(f"`labels` only applies to type = \"label\", not \"{self.type}\"")
        if self.type != "json" and (self.json_schema or self.fields):
            raise ValueError(f"`schema` and `fields` only apply to type = \"json\", not \"{self.type}\"")
        return self


class MetricSpec(_Spec):
    name: str | None = None
    """A registered metric (accuracy, exact_match, token_f1, json_f1, regex, custom, or one a plugin registers).
    Default: accuracy for labels, json_f1 for json, exact_match for text."""
    pattern: str | None = None
    """For `regex`: the output passes when it matches fully (after trimming)."""
    function: str | None = None
    """For `custom`: `module:function` (the file `module.py` in the task folder), called as
    f(output: str, example: dict) -> float in [0, 1]."""
    timeout_s: float = Field(default=10.0, gt=0)
    """Seconds a metric may take on one row (a regex gets at most 1 s: the row then fails)."""

    @model_validator(mode="after")
    def _check(self) -> MetricSpec:
        from rungwise.metrics import registered_metrics

        if self.name is not None and self.name not in registered_metrics():
            raise ValueError(f"unknown metric {self.name!r}; metrics: {', '.join(registered_metrics())}")
        if self.name == "regex":
            if not self.pattern:
                raise ValueError("metric `regex` needs `pattern = \"...\"`")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"`pattern` is not a valid regular expression: {exc}") from None
        if self.name == "custom" and not (self.function and ":" in self.function):
            raise ValueError("metric `custom` needs `function = \"module:function\"`")
        return self


class EvalSpec(_Spec):
    sample: int | None = Field(default=200, ge=1)
    """How many eval rows a climb scores, drawn at random with `seed`; `climb --full` scores all."""
    seed: int = 0
    decide: bool | str = False
    """Score more rows where the verdict hangs (`climb --decide`, docs/decide.md): true, or a budget, "1500 rows",
    "30 min" or "2.5 USD" (the task's currency); false: the sample alone."""

    @field_validator("decide")
    @classmethod
    def _budget(cls, value: bool | str) -> bool | str:
        if isinstance(value, str):
            from rungwise.judge.sequential import parse_budget

            parse_budget(value)  # a ValueError names the forms
        return value


class CostSpec(_Spec):
    """Volume and prices, for the cost of each rung at the task's scale."""

    calls_per_month: int = Field(default=0, ge=0)
    input_price_per_million: float = Field(default=0.0, ge=0)
    """Price of a million prompt tokens, in the user's currency."""
    output_price_per_million: float = Field(default=0.0, ge=0)
    currency: str = "USD"
    labelled_example_cost: float = Field(default=0.0, ge=0)
    """What one more labelled training example costs to make (fine-tuning's dataset cost)."""
    training_price_per_hour: float = Field(default=0.0, ge=0)
    """Price of an hour of the machine that trains the adapter."""
    training_price_per_million_tokens: float = Field(default=0.0, ge=0)
    """A hosted fine-tuning job's price per million trained tokens ([finetune] hosted): its training cost is the
    job's `trained_tokens` at this price."""
    hosting_price_per_hour: float = Field(default=0.0, ge=0)
    """A deployed hosted fine-tune's hosting fee per hour (Azure OpenAI bills each deployed fine-tuned model by the
    hour): a hosted fine-tune's monthly bill carries 730 hours of it."""
    base_model_updates_per_year: int = Field(default=4, ge=0)
    """How often the base model changes, so a fine-tune must be redone."""
    eval_runs_per_month: int = Field(default=4, ge=0)


class PromptSpec(_Spec):
    """The prompt rung's structured prompt; built from the task when not given."""

    task: str | None = None
    """What the task is, in one or two sentences."""
    constraints: list[str] = Field(default_factory=list)
    template: str | None = None
    """The user's whole system prompt, used as it is (`{labels}` and `{fields}` are filled in)."""
    search: bool = True
    """Search for a better task instruction on a dev split from train (the prompt-search rung, docs/prompt-search.md)."""
    search_budget: str | int | None = None
    """The search's budget in metric calls: light (120), medium (400), heavy (1200) or a number; default light."""
    dev_rows: int = Field(default=30, ge=4, le=1000)
    """Dev rows carved from train that every surviving candidate is scored on."""
    proposer: str | None = None
    """The model that proposes instructions: `local` or `URL#model-name`; default the task's own model."""
    proposer_input_price_per_million: float | None = Field(default=None, ge=0)
    """The proposer's prices; default the task's [costs] prices."""
    proposer_output_price_per_million: float | None = Field(default=None, ge=0)
    stack: bool = True
    """Few-shot and rag build on the searched instruction when it beat the clear prompt on the dev rows."""

    @field_validator("search_budget")
    @classmethod
    def _search_budget(cls, value: str | int | None) -> str | int | None:
        from rungwise.prompt_search.budget import parse_search_budget

        parse_search_budget(value)
        return value


def _curve_sizes(v: list[int] | None) -> list[int] | None:
    if v is None:
        return None
    if not v or any(n < 1 for n in v):
        raise ValueError("curve sizes must be a list of positive row counts, e.g. [100, 300, 1000]")
    return sorted(set(v))


class FewShotSpec(_Spec):
    k: int = Field(default=3, ge=1, le=64)
    selection: list[Literal["fixed", "knn"]] = Field(default=["fixed", "knn"])
    render: Literal["chat", "inline"] = "chat"
    curve: list[int] | None = None
    """Pool sizes for the kNN variant's learning curve (a climb with --curve, or this set): each a seeded subset
    of the next; None: three geometric sizes up to the whole pool (docs/curves.md)."""

    @field_validator("curve")
    @classmethod
    def _curve(cls, v: list[int] | None) -> list[int] | None:
        return _curve_sizes(v)


class RagSpec(_Spec):
    k: int = Field(default=2, ge=1, le=50)
    modes: list[Literal["bm25", "dense", "hybrid"]] = Field(default=["bm25", "dense", "hybrid"])
    chunk_words: int = Field(default=200, ge=10)
    chunk_overlap: int = Field(default=40, ge=0)
    context_tokens: int = Field(default=1500, ge=50)


class FinetuneSpec(_Spec):
    """The finetune rung: a LoRA on train, evaluated with the short (baseline) prompt."""

    max_examples: int = Field(default=1000, ge=1)
    """Train on at most this many train rows (a seeded sample)."""
    epochs: int = Field(default=1, ge=1)
    r: int = Field(default=16, ge=1)
    alpha: float = Field(default=32.0, gt=0)
    lr: float = Field(default=5e-4, gt=0)
    batch_size: int = Field(default=8, ge=1)
    max_minutes: float = Field(default=20.0, gt=0)
    """Stop training after this much wall time."""
    with_rag: bool = True
    hosted: bool = False
    """Fine-tune through the endpoint's hosted fine-tuning jobs (the OpenAI fine-tuning API shape: OpenAI, Azure
    OpenAI) when the model is an OpenAI-compatible URL; the job's `fine_tuned_model` is measured on the same
    endpoint (docs/finetune.md)."""
    hosted_poll_s: float = Field(default=10.0, gt=0)
    """Seconds between two looks at a hosted job's status."""
    hosted_queued_minutes: float = Field(default=60.0, gt=0)
    """A hosted job still waiting (validating its file, queued) after this long fails the rung, with one line."""
    base_weights: str | None = None
    """The Hugging Face folder (config.json, weights, tokenizer) of the model an endpoint URL serves: rungwise
    trains a LoRA on it with TRL and serves the adapter on that endpoint's server (docs/finetune.md). A relative
    path is read from the task's folder; `--base-weights` wins; a `[[models]]` entry may set its own."""
    base_gguf: str | None = None
    """For a llama.cpp endpoint: the GGUF the server runs, so the adapter can be converted to a GGUF LoRA and
    served by a llama.cpp server rungwise starts on it with the adapter."""
    launcher: Literal["python", "accelerate"] = "python"
    """How the training runs: `python` (this machine, its GPU when torch sees one, else its CPU) or
    `accelerate` (`accelerate launch` with `accelerate_config`: several GPUs or nodes, DeepSpeed or FSDP)."""
    accelerate_config: str | None = None
    """The accelerate config file `accelerate launch --config_file` gets (written by `accelerate config`)."""
    server_adapters_dir: str | None = None
    """Where the serving machine sees rungwise's adapters folder (a shared mount); unset: the same path."""
    """For a task with a corpus, also train and evaluate with retrieved passages in the prompt."""
    curve: list[int] | None = None
    """Training sizes for the fine-tune's learning curve (a climb with --curve, or this set): each a seeded
    subset of the next, the validation rows fixed; None: three geometric sizes up to the budget (docs/curves.md)."""

    @field_validator("curve")
    @classmethod
    def _curve(cls, v: list[int] | None) -> list[int] | None:
        return _curve_sizes(v)


class DistillSpec(_Spec):
    """`rungwise distill`: the variant that labels, and how many inputs (docs/distill.md)."""

    teacher: str | None = None
    """The variant of a climb that labels the inputs (`fewshot-knn`); `distill --teacher` wins."""
    rows: int | None = Field(default=None, ge=1)
    """Inputs to label (unlabelled.jsonl, else train with its labels withheld); None: `[finetune] max_examples`."""


class ModelSpec(_Spec):
    """The endpoint the task is climbed on: its limits, how long to wait for it and how often to try again (the
    CLI's flags and the RUNGWISE_* variables win over these)."""

    rpm: int | None = Field(default=None, ge=1)
    """Requests per minute, never exceeded."""
    tpm: int | None = Field(default=None, ge=1)
    """Tokens per minute (prompt and completion), never exceeded."""
    timeout_s: float | None = Field(default=None, gt=0)
    """Seconds to wait for each answer, per attempt (default 15; the embedded model 120)."""
    retries: int | None = Field(default=None, ge=0)
    """Attempts after the first on timeouts, 429/5xx and malformed answers (default 3)."""


class ModelChoiceSpec(_Spec):
    """One model of a multi-model climb (`[[models]]`): every model climbs the ladder on the same eval rows and
    is priced at its own prices; the climb ends with the cross-model frontier (docs/frontier.md)."""

    url: str
    """`local` (the embedded model) or an OpenAI-compatible base URL ending in /v1."""
    name: str | None = None
    """The model's name on the endpoint (required with a URL)."""
    label: str | None = None
    """How reports name this model (default: its name, or `local`); unique in the task."""
    api_key_env: str | None = None
    """The environment variable that holds the endpoint's API key (the key itself is never written here)."""
    input_price_per_million: float | None = Field(default=None, ge=0)
    """Price of a million prompt tokens on this model; default: [costs] input_price_per_million."""
    output_price_per_million: float | None = Field(default=None, ge=0)
    """Price of a million completion tokens on this model; default: [costs] output_price_per_million."""
    rpm: int | None = Field(default=None, ge=1)
    """Requests per minute on this model, never exceeded; default: [model] rpm."""
    tpm: int | None = Field(default=None, ge=1)
    """Tokens per minute on this model, never exceeded; default: [model] tpm."""
    base_weights: str | None = None
    """This model's Hugging Face folder for the fine-tune rung; default: [finetune] base_weights."""
    base_gguf: str | None = None
    """This model's GGUF (a llama.cpp endpoint) for the fine-tune rung; default: [finetune] base_gguf."""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v != "local" and not v.startswith(("http://", "https://")):
            raise ValueError("expected \"local\" or an OpenAI-compatible base URL such as http://localhost:8000/v1")
        return v

    @model_validator(mode="after")
    def _named(self) -> ModelChoiceSpec:
        if self.url != "local" and not self.name:
            raise ValueError("a model at a URL needs `name`: the model's name on that server (e.g. name = \"gpt-4o-mini\")")
        return self


class ChecksSpec(_Spec):
    leakage: Literal["stop", "drop", "warn"] = "stop"
    """What a climb does when eval rows leak from train: stop, drop them from the eval, or only warn."""
    near_duplicates: bool = True
    """Also look for near-identical inputs by embedding similarity (not only exact ones)."""


class TaskSpec(_Spec):
    name: str
    description: str | None = None
    instruction: str
    """The instruction the team uses today: the baseline rung sends it, then the input."""
    target: float = Field(ge=0, le=1)
    """The score a rung must reach to be shipped (0 to 1)."""
    output: OutputSpec = Field(default_factory=OutputSpec)
    metric: MetricSpec = Field(default_factory=MetricSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    costs: CostSpec = Field(default_factory=CostSpec)
    prompt: PromptSpec = Field(default_factory=PromptSpec)
    fewshot: FewShotSpec = Field(default_factory=FewShotSpec)
    rag: RagSpec = Field(default_factory=RagSpec)
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    finetune: FinetuneSpec = Field(default_factory=FinetuneSpec)
    distill: DistillSpec = Field(default_factory=DistillSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    models: list[ModelChoiceSpec] = Field(default_factory=list)
    """Several models climbed on the same eval rows, each at its own prices (`[[models]]`); empty: one model."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Override the generation budget derived from the output spec."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return storable(v)  # the name the store keeps, so that every lookup by name finds its runs

    @field_validator("models")
    @classmethod
    def _unique_labels(cls, v: list[ModelChoiceSpec]) -> list[ModelChoiceSpec]:
        seen: set[str] = set()
        for m in v:
            if m.label is not None and m.label in seen:
                raise ValueError(f"two [[models]] have the label {m.label!r}: give each a label of its own")
            if m.label is not None:
                seen.add(m.label)
        return v

    @property
    def metric_name(self) -> str:
        if self.metric.name:
            return self.metric.name
        return {"label": "accuracy", "json": "json_f1", "text": "exact_match"}[self.output.type]


@dataclass
class Task:
    """A loaded, validated task folder."""

    folder: Path
    spec: TaskSpec
    train: list[Example]
    eval: list[Example]
    labels: list[str] | None = None
    corpus_path: Path | None = None
    _extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def file_stem(self) -> str:
        """The name as one safe file-name component (`textsafe.file_stem`): what every file or folder named
        after the task is called, so that a name like `../../x` never chooses where a file is written."""
        return file_stem(self.spec.name)

    @classmethod
    def load(cls, folder: str | Path) -> Task:
        return load_task(folder)

    @cached_property
    def json_fields(self) -> list[str] | None:
        out = self.spec.output
        if out.type != "json":
            return None
        if out.fields:
            return list(out.fields)
        if out.json_schema and isinstance(out.json_schema.get("properties"), dict):
            return list(out.json_schema["properties"])
        return None

    def eval_sample(self, full: bool = False) -> list[Example]:
        """The eval rows a climb scores: a seeded random sample (never the first N), or all."""
        return self.eval_rows(sample=self.spec.eval.sample, full=full)

    def eval_rows(self, *, sample: int | None, full: bool = False, seed: int | None = None) -> list[Example]:
        """`sample` eval rows drawn with `seed` (default: the task's; None or `full`: every row), in file order."""
        n = sample
        if full or n is None or n >= len(self.eval):
            return list(self.eval)
        rng = random.Random(self.spec.eval.seed if seed is None else seed)
        picked = sorted(rng.sample(range(len(self.eval)), n))
        return [self.eval[i] for i in picked]


# -- loading ------------------------------------------------------------------------------------


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best effort: the line in task.toml where the field at `loc` is written."""
    lines = text.splitlines()
    section: list[str] = []
    keys = [str(p) for p in loc if not isinstance(p, int)]
    if not keys:
        return None
    *sections, key = keys
    # an array of tables ([[models]]): the index in `loc` picks its n-th header
    index = next((p for p in loc if isinstance(p, int)), None)
    tables: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        array = re.match(r"^\[\[([^\]]+)\]\]$", stripped)
        header = re.match(r"^\[([^\]]+)\]$", stripped)
        if array:
            section = [s.strip() for s in array.group(1).split(".")]
            name = ".".join(section)
            tables[name] = tables.get(name, -1) + 1
            if section == keys and tables[name] == (index or 0):
                return number
            if tables[name] != (index or 0):
                section = [*section, "#other"]  # another entry of the array: its keys are not the ones sought
            continue
        if header:
            section = [s.strip() for s in header.group(1).split(".")]
            if section == keys:
                return number
            continue
        m = re.match(r'^"?([A-Za-z0-9_\-]+)"?\s*=', stripped)
        if m and m.group(1) == key and section == sections:
            return number
    return None


def _did_you_mean(model: type[BaseModel], name: str) -> str:
    options = [f.alias or name for name, f in model.model_fields.items()]
    close = difflib.get_close_matches(name, options, n=1)
    if close:
        return f" Did you mean '{close[0]}'?"
    return f" Known keys: {', '.join(sorted(options))}."


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    model: type[BaseModel] = TaskSpec
    for part in loc:
        if isinstance(part, int):
            continue
        f = model.model_fields.get(str(part))
        if f is None:
            break
        ann = f.annotation
        if typing.get_origin(ann) is list:  # an array of tables: its entries' model
            ann = typing.get_args(ann)[0]
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            break
    return model


def _validation_error(path: Path, text: str, exc: ValidationError) -> DataError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    field_name = ".".join(str(p) for p in loc) or None
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key." + _did_you_mean(_model_at(loc[:-1]), str(loc[-1]))
    elif err["type"] == "missing":
        message = "missing; this key is required"
    else:
        given = err.get("input")
        if not isinstance(given, (dict, list)) and given is not None:
            message += f" (got {given!r:.80})"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return DataError(path, message, line=_line_of(text, loc), field=field_name)


def parse_task_toml(path: Path) -> TaskSpec:
    try:
        raw = read_bounded(path, MAX_LINE_BYTES)
    except FileNotFoundError:
        raise TaskError(f"{path}: not found. A task folder needs a task.toml; create one with: rungwise init NAME") from None
    except OSError as exc:
        raise TaskError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(path, "not valid UTF-8; save the file as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise DataError(path, f"not valid TOML: {exc}", line=int(m.group(1)) if m else None) from None
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(path, text, exc) from None


def label_set_problem(labels: list[str]) -> str | None:
    """Why this label set cannot be scored as written, or None. An answer is read one line at a time and matched
    ignoring case, whitespace and surrounding punctuation (`data.label_key`): a label that holds a line break or a
    control character, or is empty after that folding, can never be matched; two labels that fold to the same key
    cannot be told apart (`yes` would score right for `Yes`)."""
    seen: dict[str, str] = {}
    for label in labels:
        if any(c in label for c in "\r\n") or not label.replace("\t", " ").isprintable():
            return f"label {label!r} holds a line break or a control character; an answer is read one line at a " \
                   "time, so it could never be matched. Write it on one line"
        key = label_key(label)
        if not key:
            return f"label {label!r} is empty (or only spaces and punctuation); no answer can name it"
        if key in seen:
            if seen[key] == label:
                return f"label {label!r} is listed twice"
            return f"labels {seen[key]!r} and {label!r} differ only in case, spacing or surrounding punctuation; " \
                   "answers are matched ignoring those, so they cannot be told apart. Merge them or rename one"
        seen[key] = label
    return None


def _load_labels(folder: Path, spec: TaskSpec) -> list[str] | None:
    out = spec.output
    if out.type != "label":
        return None
    if out.labels:
        labels = list(out.labels)
    else:
        assert out.labels_file is not None
        path = folder / out.labels_file
        try:
            labels = json.loads(read_bounded(path).decode("utf-8"))
        except FileNotFoundError:
            raise DataError(folder / "task.toml", f"labels file {out.labels_file} not found", field="output.labels_file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(path, f"not a valid JSON list of labels ({exc})") from None
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise DataError(path, "expected a JSON list of strings")
        problem = label_set_problem(labels)
        if problem is not None:
            raise DataError(path, problem)
    return labels


def _check_targets(path: Path, rows: list[Example], labels: list[str] | None, spec: TaskSpec) -> None:
    """Targets must themselves satisfy the output spec: a label in the set, a JSON object."""
    if labels is not None:
        allowed = set(labels)
        for ex in rows:
            if ex.target not in allowed:
                close = difflib.get_close_matches(ex.target, labels, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else " Add it to the label set or fix the row."
                raise DataError(path, f"target {ex.target!r} is not in the label set.{hint}", line=_line(ex), field="target")
    elif spec.output.type == "json":
        for ex in rows:
            try:
                obj = json.loads(ex.target)
            except json.JSONDecodeError:
                raise DataError(path, "a json task's target must be a JSON object (or a string holding one)", line=_line(ex), field="target") from None
            if not isinstance(obj, dict):
                raise DataError(path, "a json task's target must be a JSON object", line=_line(ex), field="target")


def _line(ex: Example) -> int | None:
    m = re.search(r":L(\d+)$", ex.id)
    return int(m.group(1)) if m else None


def load_task(folder: str | Path) -> Task:
    """Load and validate a task folder; every problem raises a TaskError naming file, line and field."""
    folder = Path(folder)
    if not folder.is_dir():
        hint = " (it is a file: pass the folder that holds task.toml)" if folder.is_file() else ""
        raise TaskError(f"{folder}: no such task folder{hint}. Create one with: rungwise init {folder.name or 'my-task'}")
    spec = parse_task_toml(folder / "task.toml")
    labels = _load_labels(folder, spec)
    train_path, eval_path = folder / "train.jsonl", folder / "eval.jsonl"
    if not eval_path.exists():
        raise TaskError(f"{eval_path}: not found. A task needs a held-out eval.jsonl of {{\"input\", \"target\"}} rows.")
    eval_rows = read_examples(eval_path, "eval")
    train_rows = read_examples(train_path, "train") if train_path.exists() else []
    _check_targets(eval_path, eval_rows, labels, spec)
    _check_targets(train_path, train_rows, labels, spec)
    corpus = folder / "corpus.jsonl"
    if not corpus.exists():
        corpus = folder / "corpus"
    return Task(folder=folder, spec=spec, train=train_rows, eval=eval_rows, labels=labels,
                corpus_path=corpus if corpus.exists() else None)
