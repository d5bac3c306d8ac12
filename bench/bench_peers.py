"""Peers on the same server (printed, not asserted): the banking77 prompt rung's messages (the 77-label prompt,
temperature 0, rungwise's derived generation budget) on --rows seeded eval rows, sent to the embedded llama.cpp
server (SmolLM2-135M Q4_1, one slot) by

    raw httpx      a bare async client, one request at a time
    rungwise       the Runner (EmbeddedModel, SQLite store on a temp file, a fresh run)
    promptfoo      `promptfoo eval` (npm, pinned in bench/peers/package.json), the same messages, -j 1, no cache
    DSPy Predict   `dspy.Evaluate` of `dspy.Predict` on a signature whose output is a Literal of the 77 labels
                   (DSPy writes and parses its own prompt; max_tokens as rungwise's budget, no stop)
    DSPy messages  `dspy.Evaluate` of a module that sends exactly rungwise's messages through `dspy.LM`

Each client gets a fresh server (llama.cpp's RAM prompt cache would answer a second pass over the same rows)
and one warm-up request outside the measured rows. Wall time is the evaluation alone (the peers' own start-up
is printed beside it); every client's outputs are scored by rungwise's scorer, and DSPy's own score is shown too.
Calls per row: the Runner's count, promptfoo's results, DSPy's LM history (one per request it sent).

Peers live outside the project's environment (see bench/README.md):
    --node PATH          a Node >= 22.22 (promptfoo 0.123 needs it); default $RUNGWISE_BENCH_NODE or `node`
    --dspy-python PATH   a Python with dspy==3.4.1; default $RUNGWISE_BENCH_DSPY_PYTHON
A peer whose tool is missing is skipped with a note.

`--defaults` runs each peer as its documentation configures a classification eval, with none of rungwise's
generation budget: promptfoo's OpenAI provider with only its base URL (its own defaults: temperature 0,
max_tokens 1024, no stop), DSPy's `dspy.LM(model, api_base=...)` with nothing else (no temperature, max_tokens or
stop is sent: the server's own defaults apply; llama.cpp samples at temperature 0.8 and generates to the end of
the turn). raw and rungwise keep the budget, which is rungwise's default. That is what a user of each tool gets.

    python bench/bench_peers.py [--rows 100] [--threads N] [--defaults] [--only raw,rungwise,promptfoo,dspy-predict,dspy-messages]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rungwise.engine.runner import Runner
from rungwise.metrics.scoring import Scorer
from rungwise.models.embedded import MODEL_ALIAS, EmbeddedModel
from rungwise.rungs import RungContext, Variant
from rungwise.rungs.prompt import PromptRung
from rungwise.rungs.prompting import derive_budget
from rungwise.store import Store
from rungwise.task.data import Example
from rungwise.task.spec import Task

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = HERE / "peers"
CLIENTS = ["raw", "rungwise", "promptfoo", "dspy-predict", "dspy-messages"]


@dataclass
class Outcome:
    client: str
    wall: float | None = None
    score: float | None = None
    calls: float | None = None
    startup: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


class Served:
    """A fresh embedded server with the shared prefix warm; `.url` ends in /v1."""

    def __init__(self, warm_body: dict, threads: int | None = None) -> None:
        self.model = EmbeddedModel()
        if threads:
            self.model.server.n_threads = threads
        self.url = self.model.server.start()
        self.root = self.url.removesuffix("/v1")
        httpx.post(f"{self.url}/chat/completions", json=warm_body, timeout=600).raise_for_status()

    def close(self) -> None:
        self.model.server.stop()


def score_outputs(scorer: Scorer, rows: list[Example], outputs: dict[str, str]) -> float:
    return statistics.mean(scorer.score(outputs.get(ex.id, ""), ex).score for ex in rows)


def run_raw(served: Served, bodies: list[dict]) -> tuple[float, list[str]]:
    async def go() -> tuple[float, list[str]]:
        async with httpx.AsyncClient(timeout=600) as client:
            start = time.perf_counter()
            texts = []
            for body in bodies:
                data = (await client.post(f"{served.url}/chat/completions", json=body)).json()
                texts.append(data["choices"][0]["message"]["content"] or "")
            return time.perf_counter() - start, texts

    return asyncio.run(go())


def run_rungwise(served: Served, task: Task, variant: Variant, rows: list[Example], tmp: Path
                 ) -> tuple[float, dict[str, str], int]:
    model = served.model  # its server is the one started (and warmed) above
    model.base_url = served.url
    store = Store(tmp / f"peers-{time.monotonic_ns()}.db")
    run_id = store.create_run(task.name, str(task.folder), "bench", model.fingerprint, {"bench": "peers"})
    runner = Runner(store, run_id, Scorer(task))

    async def go():  # type: ignore[no-untyped-def]
        try:
            return await runner.run(variant, rows, model)
        finally:
            await model.aclose()

    start = time.perf_counter()
    results = asyncio.run(go())
    wall = time.perf_counter() - start
    store.close()
    return wall, {r.example_id: r.output for r in results}, runner.stats.calls


def run_promptfoo(served: Served, node: str, system: str, rows: list[Example], budget, tmp: Path,  # type: ignore[no-untyped-def]
                  defaults: bool = False) -> Outcome:
    cli = PEERS / "node_modules" / "promptfoo" / "dist" / "src" / "main.js"
    if not cli.is_file():
        found = list((PEERS / "node_modules" / "promptfoo").glob("dist/**/main.js"))
        if not found:
            return Outcome("promptfoo", note="not installed: run npm ci in bench/peers (see bench/README.md)")
        cli = found[0]
    if any(tok in system for tok in ("{{", "{%", "{#")):
        return Outcome("promptfoo", note="the system prompt holds template syntax; not comparable")
    work = tmp / "promptfoo"
    work.mkdir(exist_ok=True)
    prompt = '[{"role": "system", "content": ' + json.dumps(system) + '}, {"role": "user", "content": {{ input | dump }}}]'
    (work / "prompt.json").write_text(prompt)
    config = {
        "description": "rungwise bench: banking77 prompt rung",
        "prompts": ["file://prompt.json"],
        "providers": [{"id": f"openai:chat:{MODEL_ALIAS}", "config": {"apiBaseUrl": served.url, "apiKey": "none"} if defaults
                       else {"apiBaseUrl": served.url, "apiKey": "none", "temperature": 0,
                             "max_tokens": budget.max_tokens, "stop": list(budget.stop)}}],
        "tests": [{"vars": {"input": ex.input, "id": ex.id}} for ex in rows],
    }
    (work / "promptfooconfig.yaml").write_text(json.dumps(config, indent=1))
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PROMPTFOO_CONFIG_DIR": str(work / "home"), "PROMPTFOO_DISABLE_SHARING": "1", "NO_COLOR": "1",
           "PROMPTFOO_CACHE_ENABLED": "false", "OPENAI_API_KEY": "none", "PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        [node, str(cli), "eval", "-c", "promptfooconfig.yaml", "--no-cache", "-j", "1", "-o", "out.json",
         "--no-progress-bar", "--no-table", "--no-write"],
        cwd=work, env=env, capture_output=True, text=True, timeout=3600,
    )
    process_wall = time.perf_counter() - start
    out_file = work / "out.json"
    if not out_file.is_file():
        return Outcome("promptfoo", note=f"promptfoo failed (rc {proc.returncode}): {(proc.stderr or proc.stdout)[-400:]}")
    data = json.loads(out_file.read_text())
    results = data["results"]["results"]
    outputs = {r["vars"]["id"]: str((r.get("response") or {}).get("output") or "") for r in results}
    stats = data["results"].get("stats", {})
    # promptfoo's own timing of the evaluation: the span of its results' timestamps is not exposed, so take the
    # process wall and subtract its start-up, measured by `promptfoo --version` below
    t = time.perf_counter()
    subprocess.run([node, str(cli), "--version"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    startup = time.perf_counter() - t
    calls = len(results) / len(rows)  # one provider call per test (promptfoo has no retry on a 200)
    return Outcome("promptfoo", wall=process_wall - startup, startup=startup, calls=calls, extra={
        "outputs": outputs, "process_wall": process_wall, "errors": stats.get("errors"),
        "version": data.get("version") or data.get("config", {}).get("version")})


def run_dspy(served: Served, python: str, mode: str, task: Task, system: str, rows: list[Example], budget,  # type: ignore[no-untyped-def]
             tmp: Path, defaults: bool = False) -> Outcome:
    name = f"dspy-{mode}"
    job = {
        "url": served.url, "model": MODEL_ALIAS, "mode": mode, "labels": task.labels, "defaults": defaults,
        "task": task.spec.prompt.task or task.spec.description or task.spec.instruction,
        "max_tokens": budget.max_tokens, "stop": list(budget.stop),
        "rows": [{"id": ex.id, "input": ex.input, "target": ex.target,
                  "messages": [{"role": "system", "content": system}, {"role": "user", "content": ex.input}]}
                 for ex in rows],
    }
    work = tmp / name
    work.mkdir(exist_ok=True)
    (work / "job.json").write_text(json.dumps(job))
    start = time.perf_counter()
    proc = subprocess.run([python, str(PEERS / "dspy_eval.py"), str(work / "job.json"), str(work / "out.json")],
                          capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"})
    process_wall = time.perf_counter() - start
    if not (work / "out.json").is_file():
        return Outcome(name, note=f"DSPy failed (rc {proc.returncode}): {(proc.stderr or proc.stdout)[-400:]}")
    data = json.loads((work / "out.json").read_text())
    return Outcome(name, wall=data["wall"], startup=process_wall - data["wall"], calls=data["calls"] / len(rows), extra={
        "outputs": data["outputs"], "dspy_score": data["score"], "lm_calls": data["calls"], "version": data["dspy"]})


def find_node(arg: str | None) -> tuple[str | None, str]:
    node = arg or os.environ.get("RUNGWISE_BENCH_NODE") or shutil.which("node")
    if not node:
        return None, "no node found"
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError as exc:
        return None, f"{node}: {exc}"
    parts = tuple(int(p) for p in version.lstrip("v").split(".")[:2])
    if parts < (22, 22):
        return None, f"node {version} is older than promptfoo 0.123 needs (>= 22.22): pass --node"
    return node, version


def main() -> None:
    ap = argparse.ArgumentParser(description="banking77 prompt rung on the embedded server: rungwise vs raw and peers.")
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--only", default=",".join(CLIENTS), help=f"comma-separated, in order, repeats allowed: {','.join(CLIENTS)}")
    ap.add_argument("--node", default=None)
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: rungwise's)")
    ap.add_argument("--dspy-python", default=os.environ.get("RUNGWISE_BENCH_DSPY_PYTHON"))
    ap.add_argument("--defaults", action="store_true", help="run the peers at their documented defaults (no budget)")
    args = ap.parse_args()
    wanted = [c for c in args.only.split(",") if c]  # in the order given; a client may repeat (to bracket drift)
    unknown = [c for c in wanted if c not in CLIENTS]
    if unknown:
        ap.error(f"unknown client {unknown[0]!r}; clients: {', '.join(CLIENTS)}")

    task = Task.load(REPO / "examples" / "banking77")
    sample = task.eval_sample()
    rows, warm_row = sample[: args.rows], sample[args.rows]
    probe = EmbeddedModel()

    async def derive():  # type: ignore[no-untyped-def]
        try:
            return await derive_budget(task, probe.count_tokens)
        finally:
            await probe.aclose()

    budget = asyncio.run(derive())
    probe.server.stop()
    variant = PromptRung().prepare(task, RungContext(model=probe, budget=budget))[0]
    system = variant.config["system"]
    assert variant.build is not None
    bodies = [probe._body(variant.build(ex)) for ex in rows]
    warm_body = probe._body(variant.build(warm_row))
    scorer = Scorer(task)
    print(f"banking77, {len(rows)} seeded eval rows, prompt rung ({len(system)} chars of system prompt), temperature 0, "
          f"max_tokens {budget.max_tokens}, stop {list(budget.stop)}; a fresh embedded server per client, "
          f"{args.threads or probe.server.n_threads} threads; "
          f"{'peers at their own defaults (no budget); ' if args.defaults else ''}load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores", flush=True)

    outcomes: list[Outcome] = []
    reference: dict[str, str] | None = None
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for client in wanted:
            if client == "promptfoo":
                node, why = find_node(args.node)
                if node is None:
                    outcomes.append(Outcome(client, note=why))
                    print(f"  {client}: skipped ({why})", flush=True)
                    continue
            if client.startswith("dspy") and not args.dspy_python:
                outcomes.append(Outcome(client, note="no DSPy interpreter: pass --dspy-python"))
                print(f"  {client}: skipped (no --dspy-python)", flush=True)
                continue
            served = Served(warm_body, args.threads)
            try:
                if client == "raw":
                    wall, texts = run_raw(served, bodies)
                    o = Outcome(client, wall=wall, calls=1.0, extra={"outputs": {ex.id: t for ex, t in zip(rows, texts)}})
                elif client == "rungwise":
                    wall, outs, calls = run_rungwise(served, task, variant, rows, tmp)
                    o = Outcome(client, wall=wall, calls=calls / len(rows), extra={"outputs": outs})
                elif client == "promptfoo":
                    o = run_promptfoo(served, node, system, rows, budget, tmp, args.defaults)  # type: ignore[arg-type]
                else:
                    o = run_dspy(served, args.dspy_python, client.removeprefix("dspy-"), task, system, rows, budget, tmp,
                                 args.defaults)
            finally:
                served.close()
            if "outputs" in o.extra:
                o.score = score_outputs(scorer, rows, o.extra["outputs"])
                if client == "raw" and reference is None:
                    reference = o.extra["outputs"]
                elif reference is not None:
                    same = sum(o.extra["outputs"].get(k, "").strip() == v.strip() for k, v in reference.items())
                    o.extra["same_as_raw"] = same / len(reference)
            outcomes.append(o)
            line = (f"  {client:14s} wall {o.wall:7.1f} s   score {o.score:6.1%}   calls/row {o.calls if o.calls is not None else float('nan'):4.2f}"
                    if o.wall is not None else f"  {client:14s} {o.note}")
            if o.startup is not None:
                line += f"   (+{o.startup:.1f} s start-up)"
            if "same_as_raw" in o.extra:
                line += f"   outputs identical to raw's {o.extra['same_as_raw']:.0%}"
            if "dspy_score" in o.extra:
                line += f"   DSPy's own score {o.extra['dspy_score']:.1%}"
            if o.extra.get("version"):
                line += f"   [{o.extra['version']}]"
            print(line, flush=True)

    print(f"\n| client | wall s ({len(rows)} rows) | s/row | score | calls/row | outputs = raw's | note |")
    print("|---|---|---|---|---|---|---|")
    for o in outcomes:
        if o.wall is None:
            print(f"| {o.client} | – | – | – | – | – | {o.note} |")
            continue
        calls = f"{o.calls:.2f}" if o.calls is not None else "?"
        note = o.note
        if "dspy_score" in o.extra:
            note = f"DSPy's own metric {o.extra['dspy_score']:.1%}"
        same = f"{o.extra['same_as_raw']:.0%}" if "same_as_raw" in o.extra else "–"
        print(f"| {o.client} | {o.wall:.1f} | {o.wall / len(rows):.2f} | {o.score:.1%} | {calls} | {same} | {note} |")


if __name__ == "__main__":
    main()
