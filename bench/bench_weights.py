"""The embedded weights in each format rungwise can derive (printed, not asserted).

For the shipped Q4_1 file and each format derived from it (`rungwise.models.weights`): llama.cpp's own prompt
and generation rates (the `timings` of each answer) on prompts of the banking77 few-shot size with nothing
cached, at 1 and 2 threads; and the prompt rate as a share of what the model's FLOPs need at this machine's
measured fp32 matmul rate.

    python bench/bench_weights.py [--requests 6] [--threads 1,2] [--formats Q4_1,Q4_0,Q8_0]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from rungwise.models.embedded import EmbeddedServer, embedded_gguf_path, file_digest
from rungwise.models.weights import derived_gguf

PARAMS = 134_515_008  # SmolLM2-135M: 2 FLOPs per parameter per token (attention on short prompts is small)


def matmul_gflops() -> float:
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    a @ a
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(10):
            a @ a
        best = max(best, 10 * 2 * 1024**3 / (time.perf_counter() - start) / 1e9)
    return best


def rates(gguf: Path, threads: int, requests: int) -> tuple[float, float]:
    words = "card payment refund transfer account pin limit cash top-up fee balance exchange".split()
    server = EmbeddedServer(gguf, n_threads=threads)
    url = server.start()
    prompt_tps, gen_tps = [], []
    try:
        with httpx.Client(timeout=300) as client:
            for i in range(requests + 1):
                rng = np.random.default_rng(i)
                text = " ".join(rng.choice(words, 600))  # about 800 tokens, different every time: nothing cached
                body = {"model": "m", "messages": [{"role": "user", "content": text}], "max_tokens": 32,
                        "temperature": 0, "cache_prompt": False, "ignore_eos": True}
                timings = client.post(f"{url}/chat/completions", json=body).json()["timings"]
                if i:  # the first request warms the server up
                    prompt_tps.append(timings["prompt_per_second"])
                    gen_tps.append(timings["predicted_per_second"])
    finally:
        server.stop()
    return statistics.median(prompt_tps), statistics.median(gen_tps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=6)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--formats", default="Q4_1,Q4_0,Q8_0")
    args = ap.parse_args()
    gflops = matmul_gflops()
    need = 2 * PARAMS / 1e9  # GFLOP per prompt token
    print(f"numpy fp32 matmul: {gflops:.0f} GFLOP/s; the model needs {need:.2f} GFLOP a prompt token, so "
          f"{gflops / need:.0f} tokens/s is what the FLOPs allow")
    source = embedded_gguf_path()
    with tempfile.TemporaryDirectory() as cache:
        for fmt in args.formats.split(","):
            start = time.perf_counter()
            path = derived_gguf(source, fmt, Path(cache) / "weights", file_digest(source))
            took = time.perf_counter() - start
            for threads in (int(t) for t in args.threads.split(",")):
                p, g = rates(path, threads, args.requests)
                print(f"{fmt:5s} threads={threads} prompt {p:7.1f} tok/s ({p / (gflops / need):5.1%} of the FLOPs' "
                      f"rate)  generation {g:6.1f} tok/s  (derived in {took:.1f} s, {path.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
