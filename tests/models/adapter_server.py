"""A loopback protocol server for serving LoRA adapters, playing vLLM, SGLang or Ollama as their documentation
describes them (none of them has a CPU build that runs here except vLLM, which tests/finetune/test_vllm_server.py
also starts for real):

- vLLM: `POST /v1/load_lora_adapter` {lora_name, lora_path} (404 when runtime updating is off, 400 naming
  `max_lora_rank` when the adapter's rank is above the server's); the adapter is then a model name of its own;
- SGLang: `POST /load_lora_adapter` {lora_name, lora_path}; requests name `base:adapter`;
- Ollama: `POST /api/blobs/sha256:<digest>` (the body's digest checked), `POST /api/create`
  {model, from, adapters: {file: digest}}; the created model is a model name of its own.

It records every request, and answers a chat with `adapter:<name>` when the requested model is a loaded or
created adapter, `base` when it is the base model, and a 404 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OWNED_BY = {"vllm": "vllm", "sglang": "sglang", "ollama": "library"}


class AdapterServer:
    def __init__(self, kind: str, *, base: str = "team/base-model", runtime: bool = True, max_rank: int = 16) -> None:
        self.kind, self.base, self.runtime, self.max_rank = kind, base, runtime, max_rank
        self.requests: list[tuple[str, str, Any]] = []
        self.adapters: dict[str, str] = {}  # name -> path (vLLM, SGLang) or digests (Ollama)
        self.blobs: dict[str, bytes] = {}
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

            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append(("GET", self.path, None))
                if self.path == "/v1/models":
                    models = [{"id": outer.base, "object": "model", "owned_by": OWNED_BY[outer.kind]}]
                    self._send(200, {"object": "list", "data": models})
                elif self.path in ("/v1/load_lora_adapter", "/load_lora_adapter") and outer._has_load(self.path):
                    self._send(405, {"detail": "Method Not Allowed"})
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/api/blobs/"):
                    outer.requests.append(("POST", self.path, len(raw)))
                    digest = self.path.rsplit("/", 1)[1]
                    if digest != "sha256:" + hashlib.sha256(raw).hexdigest():
                        self._send(400, {"error": "digest mismatch"})
                        return
                    outer.blobs[digest] = raw
                    self.send_response(201)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.loads(raw or b"{}")
                outer.requests.append(("POST", self.path, body))
                if self.path in ("/v1/load_lora_adapter", "/load_lora_adapter") and outer._has_load(self.path):
                    config = json.loads((Path(body["lora_path"]) / "adapter_config.json").read_text())
                    if int(config["r"]) > outer.max_rank:
                        self._send(400, {"object": "error", "message": f"LoRA rank {config['r']} is greater than "
                                         f"max_lora_rank {outer.max_rank}.", "code": 400})
                        return
                    outer.adapters[body["lora_name"]] = body["lora_path"]
                    self._send(200, {"success": True} if outer.kind == "sglang" else
                               f"Success: LoRA adapter '{body['lora_name']}' added successfully.")
                elif self.path == "/api/create" and outer.kind == "ollama":
                    missing = [d for d in body.get("adapters", {}).values() if d not in outer.blobs]
                    if body.get("from") != outer.base or missing:
                        self._send(400, {"error": f"bad create: from {body.get('from')}, missing {missing}"})
                        return
                    outer.adapters[body["model"]] = json.dumps(body["adapters"])
                    self._send(200, {"status": "success"})
                elif self.path == "/v1/chat/completions":
                    self._chat(body)
                else:
                    self._send(404, {"detail": "Not Found"})

            def _chat(self, body: dict[str, Any]) -> None:
                model = body.get("model")
                name = model.split(":", 1)[1] if outer.kind == "sglang" and ":" in model else model
                if name in outer.adapters and (outer.kind != "sglang" or model.startswith(outer.base + ":")):
                    text = f"adapter:{name}"
                elif model == outer.base:
                    text = "base"
                else:
                    self._send(404, {"error": {"message": f"The model `{model}` does not exist."}})
                    return
                self._send(200, {"id": "c1", "object": "chat.completion", "model": model,
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": text}}],
                                 "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _has_load(self, path: str) -> bool:
        return self.runtime and ((self.kind == "vllm" and path.startswith("/v1/")) or
                                 (self.kind == "sglang" and not path.startswith("/v1/")))

    def posts(self, path: str) -> list[Any]:
        return [body for method, p, body in self.requests if method == "POST" and p == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
