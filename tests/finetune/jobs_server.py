"""A loopback protocol server for hosted fine-tuning: the documented OpenAI fine-tuning job lifecycle (files,
`fine_tuning/jobs` create, retrieve, events, cancel) and chat completions for the base and the fine-tuned model.

Not a provider: it implements the published request and response shapes (the `FineTuningJob` object, its
statuses `validating_files`, `queued`, `running`, `succeeded`, `failed`, `cancelled`, the `error` object and the
`fine_tuning.job.event` list), so the hosted tuner's lifecycle, failure states and resume are tested against HTTP.
`scenario` picks how each job goes: "succeed", "fail", "cancelled" (at the provider) or "stuck" (queued forever).
The fine-tuned model answers with the target it was trained on; the base model answers "unknown".
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JobsServer:
    def __init__(self, scenario: str = "succeed", steps: int = 3, reject_file: bool = False,
                 learned: dict[str, str] | None = None) -> None:
        self.scenario, self.steps, self.reject_file = scenario, steps, reject_file
        self.learned = dict(learned or {})  # input -> answer: what a succeeded job's model knows beyond train
        self.counts: Counter[str] = Counter()
        self.bodies: dict[str, list[Any]] = {}
        self.files: dict[str, list[dict[str, Any]]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.polls: Counter[str] = Counter()
        self.answers: dict[str, str] = {}  # user text -> the target a fine-tuned model learned
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:  # noqa: N802 - the handler's API
                with lock:
                    self._get()

            def do_POST(self) -> None:  # noqa: N802
                with lock:
                    self._post(self._body())

            def _get(self) -> None:
                path = self.path.split("?")[0]
                if path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "base-model", "object": "model"}]})
                elif m := re.fullmatch(r"/v1/fine_tuning/jobs/([^/]+)/events", path):
                    outer.counts["events"] += 1
                    job = outer.jobs.get(m.group(1))
                    self._send(200 if job else 404, {"object": "list", "data": list(reversed(job["events"]))}
                               if job else {"error": {"message": "no such job"}})
                elif m := re.fullmatch(r"/v1/fine_tuning/jobs/([^/]+)", path):
                    outer.counts["retrieve"] += 1
                    job = outer.jobs.get(m.group(1))
                    if job is None:
                        self._send(404, {"error": {"message": "no such job", "type": "invalid_request_error"}})
                        return
                    outer._advance(job)
                    self._send(200, outer._public(job))
                else:
                    self._send(404, {"error": {"message": f"no route {path}"}})

            def _post(self, raw: bytes) -> None:
                path = self.path.split("?")[0]
                if path == "/v1/files":
                    outer.counts["upload"] += 1
                    self._upload(raw)
                elif path == "/v1/fine_tuning/jobs":
                    outer.counts["create"] += 1
                    body = json.loads(raw)
                    outer.bodies.setdefault("create", []).append(body)
                    if body.get("training_file") not in outer.files:
                        self._send(400, {"error": {"message": "training_file not found"}})
                        return
                    n = len(outer.jobs) + 1
                    hyper = (body.get("method") or {}).get("supervised", {}).get("hyperparameters", {})
                    job = {"object": "fine_tuning.job", "id": f"ftjob-{n}", "model": body["model"],
                           "status": "validating_files", "created_at": 1_700_000_000, "finished_at": None,
                           "fine_tuned_model": None, "trained_tokens": None, "error": None,
                           "organization_id": "org-loopback", "result_files": [],
                           "hyperparameters": {"n_epochs": hyper.get("n_epochs", "auto"), "batch_size": "auto",
                                               "learning_rate_multiplier": "auto"},
                           "training_file": body["training_file"], "validation_file": body.get("validation_file"),
                           "seed": body.get("seed") or 0, "method": body.get("method"), "events": []}
                    outer.jobs[job["id"]] = job
                    self._send(200, outer._public(job))
                elif m := re.fullmatch(r"/v1/fine_tuning/jobs/([^/]+)/cancel", path):
                    outer.counts["cancel"] += 1
                    job = outer.jobs[m.group(1)]
                    job["status"] = "cancelled"
                    self._send(200, outer._public(job))
                elif path == "/v1/chat/completions":
                    outer.counts["chat"] += 1
                    body = json.loads(raw)
                    user = body["messages"][-1]["content"]
                    known = outer.answers if str(body["model"]).startswith("ft:") else {}
                    text = next((v for k, v in known.items() if user.endswith(k)), "unknown")
                    self._send(200, {"object": "chat.completion", "model": body["model"],
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": text}}],
                                     "usage": {"prompt_tokens": 12, "completion_tokens": 2}})
                else:
                    self._send(404, {"error": {"message": f"no route {path}"}})

            def _upload(self, raw: bytes) -> None:
                ctype = self.headers.get("Content-Type", "")
                boundary = ctype.split("boundary=")[-1].encode()
                parts = {}
                for part in raw.split(b"--" + boundary):
                    head, _, content = part.partition(b"\r\n\r\n")
                    name = re.search(rb'name="([^"]+)"', head)
                    if name:
                        parts[name.group(1).decode()] = content.rsplit(b"\r\n", 1)[0]
                if parts.get("purpose") != b"fine-tune" or "file" not in parts:
                    self._send(400, {"error": {"message": "purpose must be fine-tune, with a file"}})
                    return
                lines = [json.loads(line) for line in parts["file"].decode().splitlines() if line.strip()]
                bad = [i for i, r in enumerate(lines, 1) if r.get("messages", [{}])[-1].get("role") != "assistant"]
                if outer.reject_file or bad:
                    self._send(400, {"error": {"message": f"Invalid file format: line {bad[0] if bad else 1} has "
                                               "no assistant message", "type": "invalid_request_error"}})
                    return
                file_id = f"file-{len(outer.files) + 1}"
                outer.files[file_id] = lines
                self._send(200, {"object": "file", "id": file_id, "purpose": "fine-tune", "bytes": len(parts["file"])})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _public(self, job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if k != "events"}

    def _advance(self, job: dict[str, Any]) -> None:
        """One step of the job's life per look at it."""
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            return
        self.polls[job["id"]] += 1
        polls = self.polls[job["id"]]
        if self.scenario == "stuck":
            job["status"] = "queued"
            return
        if polls == 1:
            job["status"] = "queued"
            return
        step = polls - 1
        job["status"] = "running"
        job["events"].append({"object": "fine_tuning.job.event", "id": f"ev-{job['id']}-{step}", "level": "info",
                              "created_at": job["created_at"] + 10 * step,
                              "message": f"Step {step}/{self.steps}", "type": "metrics",
                              "data": {"step": step, "total_steps": self.steps}})
        if self.scenario == "fail" and step == 2:
            job.update(status="failed", error={"code": "invalid_training_file", "param": "training_file",
                                               "message": "The job failed due to an invalid training file."})
        elif self.scenario == "cancelled" and step == 2:
            job["status"] = "cancelled"
        elif step >= self.steps:
            rows = self.files[job["training_file"]]
            for r in rows:
                self.answers[r["messages"][-2]["content"]] = r["messages"][-1]["content"]
            self.answers.update(self.learned)
            job.update(status="succeeded", finished_at=job["created_at"] + 120,
                       fine_tuned_model=f"ft:{job['model']}:rungwise:{job['id']}",
                       trained_tokens=100 * len(rows))

    def __enter__(self) -> JobsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
