"""The Tuner of an OpenAI-compatible endpoint that offers hosted fine-tuning jobs (`[finetune] hosted = true`):
the rows uploaded as an OpenAI chat file, a supervised job created and followed, the `fine_tuned_model` it makes
measured on the same endpoint.

The job lives in a folder keyed by the base model, the data and the settings: `job.json` is written as soon as
the job exists, so a climb interrupted while the job runs follows the same job when run again, and never pays
for a second one. The training's price is its `trained_tokens` at `[costs] training_price_per_million_tokens`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from rungwise.cancel import CancelToken
from rungwise.finetune.dataset import Rows, TrainingExample, data_hash
from rungwise.finetune.hosted import write_openai_jsonl
from rungwise.finetune.hosted_jobs import FineTuningAPI, HostedJob, HostedJobError, Hyperparameters, follow
from rungwise.models.base import Model
from rungwise.models.openai_http import OpenAIHttpModel
from rungwise.outputs import write_output
from rungwise.progress import ProgressSink

__all__ = ["HostedJobError", "HostedTuner"]


class HostedTuner:
    """Hosted fine-tuning of `model` (its endpoint's /fine_tuning/jobs)."""

    def __init__(self, model: OpenAIHttpModel, *, cancel_remote: bool = False, poll_s: float = 10.0,
                 queued_deadline_s: float = 3600.0, api: FineTuningAPI | None = None) -> None:
        self.model = model
        self.cancel_remote = cancel_remote
        self.poll_s = poll_s
        self.queued_deadline_s = queued_deadline_s
        self._api = api
        self._own_api = api is None  # a client this tuner made, closed after each training
        self.base_fingerprint = model.fingerprint

    def _client(self) -> FineTuningAPI:
        if self._api is None:
            key = os.environ.get(self.model.api_key_env) if self.model.api_key_env else None
            self._api = FineTuningAPI(self.model.base_url, key)
        return self._api

    def train(self, rows: Rows, config: Any, folder: Path, *, progress: ProgressSink | None = None,
              cancel: CancelToken | None = None) -> tuple[Path, dict[str, Any]]:
        dhash = data_hash(rows)
        settings = config.run_fingerprint() if hasattr(config, "run_fingerprint") else \
            {"epochs": getattr(config, "epochs", None), "seed": getattr(config, "seed", None)}
        key = hashlib.sha256(json.dumps([self.model.model_name, dhash, settings], sort_keys=True,
                                        default=str).encode()).hexdigest()[:16]
        folder = folder.with_name(f"{folder.name}-hosted-{key}")
        state, result = folder / "job.json", folder / "result.json"
        if result.is_file():
            return folder, json.loads(result.read_text(encoding="utf-8"))
        api = self._client()
        try:
            if state.is_file():  # an interrupted climb: follow the job it created
                job_id = str(json.loads(state.read_text(encoding="utf-8"))["job_id"])
            else:
                job_id = self._create(api, rows, config, folder)
            name = folder.name.rsplit("-hosted-", 1)[0]
            job = follow(api, job_id, name=name, progress=progress, cancel=cancel, cancel_remote=self.cancel_remote,
                         poll_s=self.poll_s, queued_deadline_s=self.queued_deadline_s)
        finally:
            if self._own_api:
                api.close()
                self._api = None
        meta = _meta(job, self.base_fingerprint, dhash, settings, len(rows))
        write_output(result, json.dumps(meta, indent=1, allow_nan=False), what="the fine-tuning job's result")
        return folder, meta

    def _create(self, api: FineTuningAPI, rows: Rows, config: Any, folder: Path) -> str:
        data = folder / "train.openai-chat.jsonl"
        write_openai_jsonl((TrainingExample(msgs, target) for msgs, target in rows), data)
        file_id = api.upload(data)
        epochs = getattr(config, "epochs", None)
        job = api.create(self.model.model_name, file_id, hyperparameters=Hyperparameters(n_epochs=epochs),
                         seed=getattr(config, "seed", None), suffix="rungwise")
        # written before any wait: a climb stopped from here on follows this job, and never creates a second
        write_output(folder / "job.json", json.dumps({"job_id": job.id, "file_id": file_id,
                                                      "model": self.model.model_name,
                                                      "created": time.strftime("%Y-%m-%dT%H:%M:%S")}),
                     what="the fine-tuning job's id")
        return job.id

    def serve(self, adapter: Path) -> Model:
        """The fine-tuned model on the same endpoint, with the base model's key and limits."""
        meta = json.loads((adapter / "result.json").read_text(encoding="utf-8"))
        return self.model.same_endpoint(str(meta["fine_tuned_model"]))


def _meta(job: HostedJob, base: str, dhash: str, settings: Any, examples: int) -> dict[str, Any]:
    return {"base_model": base, "data_hash": dhash, "config": settings, "hosted": True, "job_id": job.id,
            "fine_tuned_model": job.fine_tuned_model, "trained_tokens": job.trained_tokens,
            "train_seconds": job.seconds or 0.0, "examples": examples,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
