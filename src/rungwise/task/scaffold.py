"""`rungwise init NAME`: a task folder with a commented task.toml and two example rows per file."""

from __future__ import annotations

import json
from pathlib import Path

from rungwise.errors import TaskError

TASK_TOML = '''# {name}: a rungwise task. Every key below has a default unless it says "required".
name = "{name}"                       # required
description = "Route customer messages to the right team."

# required: the instruction your team uses today, word for word. The baseline rung sends it, then the input.
instruction = "Which team should handle this message?"

# required: the score (0 to 1) a rung must reach to be shipped.
target = 0.85

# max_tokens = 16                     # override the generation budget derived from the output spec

[output]
type = "label"                        # label | json | text
labels = ["billing", "technical", "sales"]
# labels_file = "labels.json"         # or a JSON list in a file
# schema = {{ type = "object", properties = {{ city = {{ type = "string" }} }}, required = ["city"] }}   # json
# fields = ["city", "zip"]            # json, without a schema
# description = "extra words on how the answer should look"

[metric]
# name = "accuracy"                   # accuracy | exact_match | token_f1 | json_f1 | regex | custom
# pattern = "^[0-9]+$"                # regex
# function = "my_metric:score"        # custom: f(output: str, row: dict) -> float in [0, 1]

[eval]
sample = 200                          # eval rows per climb, drawn at random with the seed; climb --full scores all
seed = 0
# decide = "30 min"                   # climb --decide: where the verdict hangs, score more rows in looks (true, or a
                                      # budget: "1500 rows", "30 min", "2.5 USD"); docs/decide.md

[costs]
calls_per_month = 100000
input_price_per_million = 0.15        # price of a million prompt tokens
output_price_per_million = 0.60
currency = "USD"
labelled_example_cost = 0.05          # fine-tuning: what one more labelled training example costs
training_price_per_hour = 1.0         # fine-tuning: the training machine's price per hour
base_model_updates_per_year = 4       # fine-tuning: each base-model change means retraining
eval_runs_per_month = 4

[prompt]
# task = "Classify the customer message into the team that should handle it."
# constraints = ["Answer with the label only."]
# template = "your own whole system prompt; {{labels}} is filled in"

[fewshot]
k = 3
selection = ["fixed", "knn"]
# curve = [250, 1000]               # pool sizes of a learning curve (also climb --curve; docs/curves.md)

[rag]
k = 2
modes = ["bm25", "dense", "hybrid"]

[distill]
# teacher = "fewshot-knn"           # rungwise distill: the variant that labels unlabelled.jsonl (docs/distill.md)
# rows = 1000                       # inputs to label (default: [finetune] max_examples)
'''

TRAIN = [
    {"input": "I was charged twice this month", "target": "billing"},
    {"input": "The app crashes when I log in", "target": "technical"},
    {"input": "Do you offer a discount for teams of 50?", "target": "sales"},
]
EVAL = [
    {"input": "Why is there an extra fee on my invoice?", "target": "billing"},
    {"input": "I cannot reset my password", "target": "technical"},
]


def init_task(folder: Path) -> Path:
    if folder.exists() and any(folder.iterdir()):
        raise TaskError(f"{folder} already exists and is not empty; choose another name.")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.toml").write_text(TASK_TOML.format(name=folder.name), encoding="utf-8")
    for fname, rows in (("train.jsonl", TRAIN), ("eval.jsonl", EVAL)):
        (folder / fname).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder
