"""What a rung is: a value with one verb, `prepare(task, context) -> [Variant]`, registered once.

A Variant turns one eval example into one request (or, for a no-LLM reference, straight into an answer).
Adding a rung means adding one file to this folder with a `Rung` subclass decorated with `@register`: its
`order` places it on the ladder and its `kind` tells the judgement what it is for (see `RungKind`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from rungwise.cancel import CancelToken
from rungwise.models.base import Completion, Model, ModelInfo, Request
from rungwise.progress import ProgressSink
from rungwise.task.data import Example
from rungwise.task.spec import Task

if TYPE_CHECKING:
    from rungwise.retrieval.knn import KnnSelector
    from rungwise.retrieval.shared import CorpusCache

#: what a rung is for, which is what the judgement reads (never a rung's name):
#: `baseline` the team's prompt today; `prompt` a clearer prompt; `examples` worked examples in the prompt;
#: `knowledge` retrieved context; `training` new weights
RungKind = Literal["baseline", "prompt", "examples", "knowledge", "training"]

#: `ladder` a step of the ladder; `oracle` the gold context given directly (how much is knowledge);
#: `reference` an answer without an LLM (the nearest train row's label); `curve` a ladder variant on a smaller
#: pool, a point of its learning curve (see rungwise.judge.curves), never a step of the ladder; `distilled` a fine-tune
#: `rungwise distill` added to a finished run (rungwise.distillation), beside the ladder, never judged by it
Purpose = Literal["ladder", "oracle", "reference", "curve", "distilled"]


class RungSkipped(Exception):
    """A rung that does not apply to this task (no train pool, no corpus, no backend). Carries the reason."""


@dataclass(frozen=True)
class GenerationBudget:
    """How much a call may generate, derived from the output spec: the cheapest speed-up there is."""

    max_tokens: int
    stop: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class Variant:
    """One configuration scored on the eval set."""

    name: str
    rung: str
    build: Callable[[Example], Request] | None = None
    #: a reference that answers without an LLM (e.g. the label of the nearest train row)
    answer: Callable[[Example], str] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: a variant that brings its own model (fine-tuning); None means the ladder's model
    model: Model | None = None
    purpose: Purpose = "ladder"
    #: extra per-example numbers a variant records (retrieval hit@k, ...)
    annotate: Callable[[Example], dict[str, float]] | None = None
    #: its prompt carries retrieved passages
    retrieval: bool = False
    #: the unconstrained variant this one constrains (same requests, the output forced into the spec)
    twin_of: str | None = None
    #: for a twin: whether the unconstrained answer already satisfies the constraint, in which case greedy
    #: decoding under the constraint returns that same answer and no call is needed
    fits: Callable[[str], bool] | None = None
    #: artifacts this variant stands on (an adapter), recorded with the run: (name, kind, path, meta)
    artifacts: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def probe(self) -> bool:
        """A probe or reference, not a step of the ladder."""
        return self.purpose != "ladder"


@dataclass
class SharedResources:
    """What rungs build once per climb and share: the embedder, kNN selectors, the corpus and its indexes,
    and the models a rung starts (the climb closes them)."""

    embedder: Any = None
    #: the models variants bring (a tuned adapter's server): the climb opens each and closes them all
    owned_models: list[Model] = field(default_factory=list)
    knn: dict[tuple[str, ...], KnnSelector] = field(default_factory=dict)
    corpus: CorpusCache | None = None
    #: where embedding and indexing report their progress (the climb's sink)
    progress: ProgressSink | None = None
    #: the prompt search's instruction, when it beat the clear prompt on the dev rows and the task stacks the
    #: rungs on it ([prompt] stack): few-shot and rag use it as their task line; None: the clear prompt's
    instruction: str | None = None

    def get_embedder(self) -> Any:
        if self.embedder is None:
            from rungwise.retrieval.embeddings import ReportingEmbedder, default_embedder

            self.embedder = ReportingEmbedder(default_embedder(), self.progress)
        return self.embedder

    def knn_selector(self, pool: list[Example], cache_dir: Path | None) -> KnnSelector:
        from rungwise.retrieval.knn import KnnSelector

        key = tuple(ex.id for ex in pool)
        if key not in self.knn:
            self.knn[key] = KnnSelector(pool, self.get_embedder(), cache_dir)
        return self.knn[key]

    def corpus_cache(self) -> CorpusCache:
        if self.corpus is None:
            from rungwise.retrieval.shared import CorpusCache

            self.corpus = CorpusCache(self.progress)
        return self.corpus


@dataclass
class RungContext:
    """What rungs may use besides the task: the opened model, the budget, shared resources, progress, cancel."""

    model: Model
    budget: GenerationBudget
    cache_dir: Path | None = None
    #: a dry run calls no model and trains nothing: rungs that would must skip
    dry_run: bool = False
    resources: SharedResources = field(default_factory=SharedResources)
    progress: ProgressSink | None = None
    cancel: CancelToken = field(default_factory=CancelToken)
    #: also prepare the variants of learning curves (purpose `curve`): the climb's --curve
    curve: bool = False
    #: how a rung calls a model while it prepares (the prompt search): the climb's, which answers from the
    #: store's response cache first and caches every answer, so an interrupted climb resumes without paying twice;
    #: returns the completion and whether it came from the cache. None: straight to the model, nothing cached
    complete: Callable[[Model, Request], Awaitable[tuple[Completion, bool]]] | None = None
    #: the model that proposes instructions to the prompt search (`--proposer`); None: the task's own model
    proposer: Model | None = None
    #: cancelled while a hosted fine-tuning job runs, cancel it at the provider too (`--cancel-remote`)
    cancel_remote: bool = False

    async def call(self, model: Model, request: Request) -> tuple[Completion, bool]:
        """One call of `model` while preparing: through `complete` when the climb gives one."""
        if self.complete is not None:
            return await self.complete(model, request)
        return await model.complete(request), False

    @property
    def info(self) -> ModelInfo:
        """The model as opened; a model nobody opened is described by what its class declares."""
        return self.model._info or self.model.declared_info()


class Rung(ABC):
    #: the rung's name on the command line (`--rungs`) and in results
    name: str = ""
    #: its place on the ladder: cheaper and easier to undo first
    order: int = 0
    kind: RungKind = "prompt"
    #: one line for `climb --help`
    summary: str = ""
    #: the rung calls the model while it prepares (the prompt search): under `--max-cost` the climb prices its
    #: dry-run plan first and skips it, before any call, when that would pass the cap
    calls_while_preparing: bool = False

    @abstractmethod
    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        """Build this rung's variants for the task, or raise RungSkipped saying why it does not apply."""

    async def aprepare(self, task: Task, context: RungContext) -> list[Variant]:
        """`prepare` for the climb, in its event loop: a rung that calls a model while it prepares (the prompt
        search) overrides this one and calls through `context.call`."""
        return self.prepare(task, context)


R = TypeVar("R", bound=type[Rung])
_REGISTRY: dict[str, type[Rung]] = {}


def register(cls: R) -> R:
    """Put a rung on the ladder (a class decorator). Its name must be new; its order places it."""
    if not cls.name or not cls.name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"a rung needs a name of letters, digits, '-' or '_', not {cls.name!r}")
    other = _REGISTRY.get(cls.name)
    if other is not None and other is not cls and (other.__module__, other.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"a rung named {cls.name!r} is already registered ({other.__module__}.{other.__qualname__})")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Take a rung off the ladder (tests and plugins that add rungs for a while)."""
    _REGISTRY.pop(name, None)


def registered() -> list[type[Rung]]:
    """Every registered rung class, in ladder order."""
    return sorted(_REGISTRY.values(), key=lambda c: (c.order, c.name))


def rung_kind(name: str) -> RungKind | None:
    cls = _REGISTRY.get(name)
    return cls.kind if cls else None
