"""Hosted fine-tuning jobs ([finetune] hosted) against a loopback protocol server (tests/finetune/jobs_server.py)
that implements the OpenAI fine-tuning job lifecycle: a climb that trains and measures the fine-tuned model, the
request shapes, resume of an interrupted job without a second one, --cancel-remote, and every failure state as
one line while the climb goes on."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from rungwise import ClimbOptions, climb
from rungwise.cancel import CancelToken
from rungwise.errors import ClimbCancelled
from rungwise.finetune.hosted_jobs import FineTuningAPI, HostedJobError, follow
from rungwise.models.base import Message
from rungwise.models.hosted_tuner import HostedTuner
from rungwise.models.openai_http import OpenAIHttpModel
from rungwise.progress import ProgressEvent

from finetune.jobs_server import JobsServer
from helpers import LABEL_EVAL, LABEL_TOML_EXACT, LABEL_TRAIN, write_task

HOSTED = LABEL_TOML_EXACT + """
[costs]
training_price_per_million_tokens = 25.0
hosting_price_per_hour = 1.7
[finetune]
hosted = true
hosted_poll_s = 0.01
"""
LEARNED = {r["input"]: r["target"] for r in LABEL_EVAL}


def _task(tmp_path: Path, toml: str = HOSTED) -> Path:
    return write_task(tmp_path / "route", toml, LABEL_TRAIN, LABEL_EVAL)


def _climb(tmp_path: Path, url: str, toml: str = HOSTED, **options: object) -> object:
    return climb(_task(tmp_path, toml), OpenAIHttpModel(url, "base-model"),
                 ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline", "finetune"], all_rungs=True,
                              **options))  # type: ignore[arg-type]


def test_a_climb_trains_a_hosted_job_and_measures_its_model_on_the_same_endpoint(tmp_path: Path) -> None:
    with JobsServer(learned=LEARNED) as srv:
        result = _climb(tmp_path, srv.url)
        scores = {v.name: v.score for v in result.variants}  # type: ignore[attr-defined]
        assert scores["baseline"] == 0.0 and scores["finetune"] == 1.0  # the fine-tuned model's answers
        assert srv.counts["upload"] == 1 and srv.counts["create"] == 1
        body = srv.bodies["create"][0]
        assert body["model"] == "base-model" and body["training_file"] == "file-1" and body["suffix"] == "rungwise"
        assert body["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}}
        assert body["seed"] == 0
        uploaded = srv.files["file-1"]
        assert len(uploaded) == len(LABEL_TRAIN) and uploaded[0]["messages"][-1] == {"role": "assistant",
                                                                                     "content": "billing"}
        record = result.record()  # type: ignore[attr-defined]
        bill = record.finetune_costs["finetune"]
        assert bill.training == pytest.approx(100 * len(LABEL_TRAIN) / 1e6 * 25.0)  # trained_tokens at the price
        # the deployed fine-tune's hosting fee runs every hour of the month, in its fixed monthly cost
        assert bill.hosting_per_month == pytest.approx(1.7 * 730) and bill.fixed_per_month > bill.hosting_per_month
        finetune = next(v for v in record.variants if v.name == "finetune")
        adapter = finetune.adapters[0]
        assert adapter.kind == "hosted-fine-tune" and adapter.meta["fine_tuned_model"] == "ft:base-model:rungwise:ftjob-1"
        assert adapter.meta["trained_tokens"] == 400 and adapter.meta["train_seconds"] == 120
        # a climb run again reuses the finished job: no upload, no second job
        _climb(tmp_path, srv.url, resume=False)
        assert srv.counts["upload"] == 1 and srv.counts["create"] == 1


ROWS = [((Message("user", "Which team?\n\nI was charged twice"),), "billing")]


def test_an_interrupted_job_is_followed_again_never_created_twice(tmp_path: Path) -> None:
    with JobsServer(steps=5) as srv:
        tuner = HostedTuner(OpenAIHttpModel(srv.url, "base-model"), poll_s=0.0)
        token = CancelToken()
        seen: list[ProgressEvent] = []

        def progress(e: ProgressEvent) -> None:
            seen.append(e)
            if e.done >= 2:
                token.cancel()

        folder = tmp_path / "adapters" / "route-finetune"
        config = SimpleNamespace(epochs=2, seed=0)
        with pytest.raises(ClimbCancelled, match="ftjob-1 goes on at the provider"):
            tuner.train(ROWS, config, folder, progress=progress, cancel=token)
        assert srv.counts["create"] == 1 and srv.counts["cancel"] == 0
        assert [(e.stage, e.done, e.total) for e in seen][:2] == [("training", 1, 5), ("training", 2, 5)]
        path, meta = tuner.train(ROWS, config, folder, progress=seen.append, cancel=CancelToken())
        assert srv.counts["create"] == 1 and srv.counts["upload"] == 1  # the same job, followed to its end
        assert meta["job_id"] == "ftjob-1" and meta["fine_tuned_model"] == "ft:base-model:rungwise:ftjob-1"
        assert tuner.serve(path).name == "ft:base-model:rungwise:ftjob-1"
        # --cancel-remote: the job is cancelled at the provider as well
        remote = HostedTuner(OpenAIHttpModel(srv.url, "base-model"), poll_s=0.0, cancel_remote=True)
        stop = CancelToken()
        stop.cancel()
        with pytest.raises(ClimbCancelled, match="cancelled at the provider too"):
            remote.train([((Message("user", "other"),), "sales")], config, tmp_path / "b" / "x", cancel=stop)
        assert srv.counts["cancel"] == 1 and srv.jobs["ftjob-2"]["status"] == "cancelled"


@pytest.mark.parametrize(("server", "toml", "message"), [
    ({"scenario": "fail"}, HOSTED, r"fine-tuning job ftjob-1 failed: The job failed due to an invalid training file\."),
    ({"scenario": "cancelled"}, HOSTED, r"fine-tuning job ftjob-1 was cancelled at the provider"),
    ({"scenario": "stuck"}, HOSTED + "hosted_queued_minutes = 0.0005\n",
     r"fine-tuning job ftjob-1 is still 'queued' after 0\.03 s"),
    ({"reject_file": True}, HOSTED, r"uploading .*: the provider answered HTTP 400: Invalid file format"),
])
def test_each_failure_of_a_job_is_one_line_and_the_climb_goes_on(tmp_path: Path, server: dict[str, object],
                                                                 toml: str, message: str) -> None:
    with JobsServer(**server) as srv:  # type: ignore[arg-type]
        result = _climb(tmp_path, srv.url, toml)
    assert [v.name for v in result.variants] == ["baseline"]  # type: ignore[attr-defined]
    why = result.skipped["finetune"]  # type: ignore[attr-defined]
    assert "\n" not in why and re.search(message, why), why


def test_the_api_client_names_an_unreachable_endpoint_and_a_missing_job(tmp_path: Path) -> None:
    api = FineTuningAPI("http://127.0.0.1:9/v1", timeout_s=2)
    with pytest.raises(HostedJobError, match="could not be reached"):
        api.retrieve("ftjob-1")
    with JobsServer() as srv:
        with pytest.raises(HostedJobError, match="reading job ftjob-9: the provider answered HTTP 404: no such job"):
            follow(FineTuningAPI(srv.url), "ftjob-9", poll_s=0)


def test_hosted_on_the_embedded_model_says_what_it_needs(tmp_path: Path) -> None:
    from rungwise.models.fake import FakeModel

    result = climb(_task(tmp_path), FakeModel(lambda r: "billing"),
                   ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline", "finetune"], all_rungs=True))
    assert "[finetune] hosted needs an OpenAI-compatible endpoint with fine-tuning jobs" in result.skipped["finetune"]


def test_the_loopback_server_and_the_client_speak_the_published_shapes(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's jobs and events validate against openai's published types, and the create request the tuner
    sends validates against its request type: the lifecycle tests above run on the documented protocol."""
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent, job_create_params
    from pydantic import TypeAdapter

    for scenario in ("succeed", "fail"):
        monkeypatch.setenv("RUNGWISE_CACHE_DIR", str(tmp_path / scenario / "cache"))  # a job of its own each
        with JobsServer(scenario=scenario, learned=LEARNED) as srv:
            _climb(tmp_path / scenario, srv.url)
            TypeAdapter(job_create_params.JobCreateParams).validate_python(srv.bodies["create"][0])
            job = srv.jobs["ftjob-1"]
            typed = FineTuningJob.model_validate(srv._public(job))
            assert typed.status == ("succeeded" if scenario == "succeed" else "failed")
            assert all(FineTuningJobEvent.model_validate(e).type == "metrics" for e in job["events"])
            if scenario == "fail":
                assert typed.error is not None and typed.error.code == "invalid_training_file"
