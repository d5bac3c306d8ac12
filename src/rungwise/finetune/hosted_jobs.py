"""Hosted fine-tuning jobs through the OpenAI fine-tuning API shape (OpenAI, Azure OpenAI): upload the training
file, create a supervised job, follow its status and events, cancel it.

A library that takes a base URL, a key and paths: the hosted tuner (`rungwise.models.hosted_tuner`) stands on it.
Every failure of a job (a training file the provider refuses, a job that fails or is cancelled, one that never
leaves the queue before the deadline) is a `HostedJobError` whose message is one line a user can act on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from rungwise.cancel import CancelToken
from rungwise.errors import ClimbCancelled, RungwiseError
from rungwise.progress import ProgressSink, report
from rungwise.textsafe import safe_text

#: the statuses a job ends in
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
#: the statuses of a job that has not started training yet (a deadline applies to them)
WAITING = frozenset({"validating_files", "queued"})


class HostedJobError(RungwiseError):
    """A hosted fine-tuning job could not give an adapter: its message says which job, why, and what to do."""


@dataclass(frozen=True)
class HostedJob:
    """One job as the provider describes it (`fine_tuning.job`)."""

    id: str
    status: str
    model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error: str | None = None
    created_at: int | None = None
    finished_at: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostedJob:
        err = data.get("error") or None
        message = None
        if isinstance(err, dict) and (err.get("message") or err.get("code")):
            message = str(err.get("message") or err.get("code"))
        trained = data.get("trained_tokens")
        return cls(id=str(data.get("id", "")), status=str(data.get("status", "")), model=str(data.get("model", "")),
                   fine_tuned_model=data.get("fine_tuned_model") or None,
                   trained_tokens=int(trained) if isinstance(trained, (int, float)) else None,
                   error=message, created_at=data.get("created_at"), finished_at=data.get("finished_at"), raw=data)

    @property
    def seconds(self) -> float | None:
        """Wall time from creation to the end, as the provider reports it."""
        if isinstance(self.created_at, (int, float)) and isinstance(self.finished_at, (int, float)):
            return float(self.finished_at - self.created_at)
        return None


@dataclass(frozen=True)
class Hyperparameters:
    """What the job is asked for; None leaves the provider's default ("auto")."""

    n_epochs: int | None = None
    batch_size: int | None = None
    learning_rate_multiplier: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("n_epochs", self.n_epochs), ("batch_size", self.batch_size),
                                  ("learning_rate_multiplier", self.learning_rate_multiplier)) if v is not None}


class FineTuningAPI:
    """The endpoints of the fine-tuning API shape under `base_url` (ending in /v1)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout_s: float = 60.0,
                 client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.Client(timeout=timeout_s, headers=headers)

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        try:
            resp = self._client.request(method, url, **kwargs)
        except httpx.HTTPError as e:
            raise HostedJobError(f"{what}: {self.base_url} could not be reached ({type(e).__name__}); check the URL "
                                 "and that the server offers fine-tuning") from None
        if resp.status_code >= 400:
            raise HostedJobError(f"{what}: the provider answered HTTP {resp.status_code}: {_error_text(resp)}")
        try:
            data = resp.json()
        except ValueError:
            raise HostedJobError(f"{what}: the provider's answer is not JSON") from None
        if not isinstance(data, dict):
            raise HostedJobError(f"{what}: the provider's answer is not a JSON object")
        return data

    def upload(self, path: Path) -> str:
        """Upload a training file (purpose fine-tune); its file id."""
        with path.open("rb") as fh:
            data = self._call("POST", "/files", f"uploading {path.name}", data={"purpose": "fine-tune"},
                              files={"file": (path.name, fh, "application/jsonl")})
        if not data.get("id"):
            raise HostedJobError(f"uploading {path.name}: the provider gave no file id")
        return str(data["id"])

    def create(self, model: str, training_file: str, *, validation_file: str | None = None,
               hyperparameters: Hyperparameters | None = None, seed: int | None = None,
               suffix: str | None = None) -> HostedJob:
        """Create a supervised fine-tuning job."""
        body: dict[str, Any] = {"model": model, "training_file": training_file,
                                "method": {"type": "supervised",
                                           "supervised": {"hyperparameters": (hyperparameters or
                                                                              Hyperparameters()).to_json()}}}
        if validation_file:
            body["validation_file"] = validation_file
        if seed is not None:
            body["seed"] = seed
        if suffix:
            body["suffix"] = suffix
        job = HostedJob.from_json(self._call("POST", "/fine_tuning/jobs", f"creating a fine-tuning job of {model}",
                                             json=body))
        if not job.id:
            raise HostedJobError(f"creating a fine-tuning job of {model}: the provider gave no job id")
        return job

    def retrieve(self, job_id: str) -> HostedJob:
        return HostedJob.from_json(self._call("GET", f"/fine_tuning/jobs/{job_id}", f"reading job {job_id}"))

    def events(self, job_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The job's latest events, newest first (as the API lists them)."""
        data = self._call("GET", f"/fine_tuning/jobs/{job_id}/events", f"reading the events of job {job_id}",
                          params={"limit": limit})
        events = data.get("data")
        return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []

    def cancel(self, job_id: str) -> HostedJob:
        return HostedJob.from_json(self._call("POST", f"/fine_tuning/jobs/{job_id}/cancel", f"cancelling job {job_id}"))


def _error_text(resp: httpx.Response) -> str:
    try:
        data = resp.json()
        err = data.get("error") if isinstance(data, dict) else None
        text = err.get("message") if isinstance(err, dict) else err if isinstance(err, str) else resp.text
    except ValueError:
        text = resp.text
    return safe_text(" ".join(str(text or "").split()))[:300] or "(no message)"


def follow(api: FineTuningAPI, job_id: str, *, name: str = "finetune", progress: ProgressSink | None = None,
           cancel: CancelToken | None = None, cancel_remote: bool = False, poll_s: float = 10.0,
           queued_deadline_s: float = 3600.0, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> HostedJob:
    """Poll the job until it ends; report its step events as training progress. Returns the succeeded job.

    Cancelled here (Ctrl-C, `ClimbJob.cancel`), the job goes on at the provider and a climb run again picks it up
    again, unless `cancel_remote`, which cancels it there first. A job that fails, is cancelled at the provider or
    waits longer than `queued_deadline_s` before training raises HostedJobError."""
    started = clock()
    seen: set[str] = set()
    while True:
        job = api.retrieve(job_id)
        _report_events(api, job_id, name, progress, seen)
        if job.status == "succeeded":
            if not job.fine_tuned_model:
                raise HostedJobError(f"fine-tuning job {job_id} succeeded but names no fine_tuned_model")
            return job
        if job.status == "failed":
            raise HostedJobError(f"fine-tuning job {job_id} failed: {safe_text(job.error or 'no reason given')}")
        if job.status == "cancelled":
            raise HostedJobError(f"fine-tuning job {job_id} was cancelled at the provider; delete its folder under "
                                 "the cache's adapters/ to start a new one")
        if job.status in WAITING and clock() - started > queued_deadline_s:
            raise HostedJobError(f"fine-tuning job {job_id} is still '{job.status}' after {queued_deadline_s:g} s; "
                                 "it is left at the provider, and a climb run again follows it again")
        if cancel is not None and cancel.cancelled:
            if cancel_remote:
                api.cancel(job_id)
                raise ClimbCancelled(f"The climb was cancelled; fine-tuning job {job_id} was cancelled at the "
                                     "provider too (--cancel-remote).")
            raise ClimbCancelled(f"The climb was cancelled; fine-tuning job {job_id} goes on at the provider. Run "
                                 "the same climb again to follow it (no second job), or pass --cancel-remote.")
        sleep(poll_s)


def _report_events(api: FineTuningAPI, job_id: str, name: str, progress: ProgressSink | None,
                   seen: set[str]) -> None:
    """Step events (`"data": {"step": n, "total_steps": m}`) as training progress, each once."""
    if progress is None:
        return
    for event in reversed(api.events(job_id)):
        key = str(event.get("id") or json.dumps(event, sort_keys=True))
        if key in seen:
            continue
        seen.add(key)
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        step, total = data.get("step"), data.get("total_steps")
        if isinstance(step, int) and isinstance(total, int) and total > 0:
            report(progress, "training", name, min(step, total), total)
