import json

from rungwise.finetune.dataset import TrainingExample
from rungwise.finetune.hosted import write_openai_jsonl, write_prompt_completion_jsonl

ROWS = [
    TrainingExample.of([{"role": "system", "content": "Label it."}, {"role": "user", "content": "lost card"}], "lost_or_stolen_card"),
    TrainingExample.of([{"role": "user", "content": "ünïcode \"quoted\"\nline"}], "{\"a\": 1}"),
]


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_openai_chat_format(tmp_path):
    path = tmp_path / "out" / "train.jsonl"
    assert write_openai_jsonl(ROWS, path) == 2
    lines = read_jsonl(path)
    assert lines[0] == {
        "messages": [
            {"role": "system", "content": "Label it."},
            {"role": "user", "content": "lost card"},
            {"role": "assistant", "content": "lost_or_stolen_card"},
        ]
    }
    assert lines[1]["messages"][-1] == {"role": "assistant", "content": "{\"a\": 1}"}
    assert lines[1]["messages"][0]["content"] == "ünïcode \"quoted\"\nline"
    # one record per line: the newline inside the content is escaped
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    assert "ünïcode" in path.read_text(encoding="utf-8")  # UTF-8, not \u escapes


def test_prompt_completion_conversational(tmp_path):
    path = tmp_path / "pc.jsonl"
    assert write_prompt_completion_jsonl(ROWS, path) == 2
    first = read_jsonl(path)[0]
    assert first == {
        "prompt": [{"role": "system", "content": "Label it."}, {"role": "user", "content": "lost card"}],
        "completion": [{"role": "assistant", "content": "lost_or_stolen_card"}],
    }


def test_prompt_completion_with_rendered_prompt(tmp_path):
    path = tmp_path / "pc.jsonl"
    write_prompt_completion_jsonl(ROWS, path, prompt_text=lambda e: "|".join(m.content for m in e.messages) + "=>")
    lines = read_jsonl(path)
    assert lines[0] == {"prompt": "Label it.|lost card=>", "completion": "lost_or_stolen_card"}
    assert lines[1]["completion"] == "{\"a\": 1}"
