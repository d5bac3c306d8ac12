"""DSPy's Evaluate on the banking77 rows that bench/bench_peers.py hands over (run in DSPy's own venv).

    python dspy_eval.py JOB.json OUT.json

JOB: {"url", "model", "mode": "predict" | "messages", "task", "labels", "max_tokens", "stop", "defaults", "rows":
[{"id", "input", "target", "messages"}]}; with "defaults" the LM gets none of max_tokens, stop or temperature. `predict` runs `dspy.Predict` on a signature whose output field is a Literal of
the labels (DSPy writes its own prompt and parses with its adapters, falling back to another adapter when the
first cannot parse); `messages` sends exactly the given messages through DSPy's LM. OUT gets the wall time of
the evaluation alone, DSPy's own score, the outputs and the number of LM calls.
"""

import json
import os
import sys
import time
from typing import Literal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("DSPY_CACHEDIR", os.path.join(os.path.dirname(os.path.abspath(sys.argv[2])), "dspy-cache"))

T0 = time.perf_counter()
import dspy  # noqa: E402


def main() -> None:
    job = json.load(open(sys.argv[1]))
    imported = time.perf_counter() - T0
    if job.get("defaults"):  # as DSPy's docs configure an LM: the model and where it is, nothing else (no cache:
        # a second pass would be answered from it)
        lm = dspy.LM(f"openai/{job['model']}", api_base=job["url"], api_key="none", cache=False)
    else:
        lm = dspy.LM(f"openai/{job['model']}", api_base=job["url"], api_key="none", temperature=0.0,
                     max_tokens=job["max_tokens"], cache=False, num_retries=0)
    dspy.configure(lm=lm)
    labels = tuple(job["labels"])

    if job["mode"] == "predict":
        label_type = Literal[labels]  # type: ignore[valid-type]

        class Classify(dspy.Signature):
            message: str = dspy.InputField()
            intent: label_type = dspy.OutputField()  # type: ignore[valid-type]

        Classify.__doc__ = job["task"]
        Classify = Classify.with_instructions(job["task"])
        program = dspy.Predict(Classify)
        devset = [dspy.Example(message=r["input"], intent=r["target"], id=r["id"]).with_inputs("message")
                  for r in job["rows"]]

        def metric(example, pred, trace=None):  # noqa: ANN001, ANN202
            return getattr(pred, "intent", None) == example.intent

        def output(pred) -> str:  # noqa: ANN001
            return str(getattr(pred, "intent", "") or "")
    else:
        stop = None if job.get("defaults") else (job.get("stop") or None)

        class Raw(dspy.Module):
            def forward(self, messages):  # noqa: ANN001, ANN202
                out = lm(messages=messages, stop=stop) if stop else lm(messages=messages)
                first = out[0]
                return dspy.Prediction(answer=first if isinstance(first, str) else first.get("text", ""))

        program = Raw()
        devset = [dspy.Example(messages=r["messages"], target=r["target"], id=r["id"]).with_inputs("messages")
                  for r in job["rows"]]

        def metric(example, pred, trace=None):  # noqa: ANN001, ANN202
            lines = [ln.strip() for ln in (pred.answer or "").splitlines() if ln.strip()]
            return bool(lines) and lines[0].strip(" .\"'`").casefold() == example.target.casefold()

        def output(pred) -> str:  # noqa: ANN001
            return str(getattr(pred, "answer", "") or "")

    evaluate = dspy.Evaluate(devset=devset, metric=metric, num_threads=1, display_progress=False,
                             max_errors=len(devset) + 1, provide_traceback=False)
    start = time.perf_counter()
    result = evaluate(program)
    wall = time.perf_counter() - start
    outputs = {}
    for example, pred, _score in result.results:
        outputs[example.id] = output(pred) if pred is not None else ""
    json.dump({"wall": wall, "imports": imported, "score": float(result.score) / 100.0, "calls": len(lm.history),
               "outputs": outputs, "dspy": dspy.__version__}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
