"""The embedded weights in each format rungwise can derive (printed, not asserted).

For the shipped Q4_1 file and each format derived from it (`rungwise.models.weights`): llama.cpp's own prompt
and generation rates (the `timings` of each answer) on prompts of the banking77 few-shot size with nothing
cached, at 1 and 2 threads; and the prompt rate as a share of what the model's FLOPs need at this machine's
measured fp32 matmul rate.

Then (--slots 1,2,4) llama.cpp slots: the same requests sent that many at a time, for a generation-heavy shape
(the baseline's: a short prompt, 20 generated tokens) and a prompt-heavy one (few-shot kNN's: a 640-token shared
prefix, 170 new tokens, 7 generated), in seconds per request.

    python bench/bench_weights.py [--requests 6] [--threads 1,2] [--formats Q4_1,Q4_0,Q8_0] [--slots 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
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


def slots_per_request(gguf: Path, slots: int, shape: str, requests: int) -> float:
    words = "card payment refund transfer account pin limit cash top-up fee balance exchange".split()
    rng = np.random.default_rng(1)
    prefix = " ".join(rng.choice(words, 480))  # about 640 tokens shared by every request

    def body(i: int) -> dict[str, object]:
        tail = " ".join(np.random.default_rng(100 + i).choice(words, 8 if shape == "generation" else 128))
        if shape == "generation":
            return {"messages": [{"role": "user", "content": f"Which team handles this? {tail}"}],
                    "max_tokens": 20, "ignore_eos": True, "temperature": 0}
        return {"messages": [{"role": "system", "content": prefix}, {"role": "user", "content": tail}],
                "max_tokens": 7, "ignore_eos": True, "temperature": 0}

    server = EmbeddedServer(gguf, n_parallel=slots)
    url = server.start()

    async def go() -> float:
        async with httpx.AsyncClient(timeout=300) as client:
            await client.post(f"{url}/chat/completions", json=body(-1))  # warm: the shared prefix in the cache
            sem = asyncio.Semaphore(slots)

            async def one(i: int) -> None:
                async with sem:
                    await client.post(f"{url}/chat/completions", json=body(i))

            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(requests)))
            return (time.perf_counter() - start) / requests

    try:
        return asyncio.run(go())
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=6)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--formats", default="Q4_1,Q4_0,Q8_0")
    ap.add_argument("--slots", default="", help="compare llama.cpp slots (e.g. 1,2,4) on the default format")
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
        if args.slots:
            from rungwise.models.weights import weights_format

            path = derived_gguf(source, weights_format(), Path(cache) / "weights", file_digest(source))
            for shape in ("generation", "prompt"):
                for slots in (int(n) for n in args.slots.split(",")):
                    per = slots_per_request(path, slots, shape, max(8, args.requests * 2))
                    print(f"{shape:10s}-heavy  slots={slots}  {per:.3f} s per request")


if __name__ == "__main__":
    main()
