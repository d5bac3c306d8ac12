"""`rungwise export-prompt RUN`: the prompt a run's prompt search found, as files a team can ship."""

from __future__ import annotations

from pathlib import Path

from rungwise.errors import TaskError
from rungwise.outputs import strict_json, write_output
from rungwise.record.schema import ClimbRecord
from rungwise.textsafe import file_stem


def export_searched_prompt(record: ClimbRecord, variant: str, out_dir: Path) -> list[Path]:
    """Write `<task>.<variant>.system.txt` (the system prompt, whole) and `<task>.<variant>.json` (the instruction,
    the dev scores before and after, the eval score with its interval, the search's calls and cost)."""
    search = record.prompt_search.get(variant)
    if search is None or search.planned or not search.system:
        found = ", ".join(sorted(record.prompt_search)) or "none"
        raise TaskError(f"Run {record.run_id} has no prompt search named {variant!r} (searched variants: {found}); "
                        "climb with the prompt-search rung first.")
    scored = record.variant(variant)
    stem = f"{file_stem(record.task)}.{file_stem(variant)}"
    meta = {"run": record.run_id, "task": record.task, "model": record.model, "variant": variant,
            "instruction": (search.winner or {}).get("instruction", ""), "system": search.system,
            "dev_before": search.dev_before, "dev_after": search.dev_after, "dev_rows": search.dev_rows,
            "eval": None if scored is None else {"metric": record.metric, "score": scored.score, "low": scored.low,
                                                 "high": scored.high, "rows": scored.n},
            "metric_calls": search.metric_calls, "proposals": search.proposals, "cost": search.cost,
            "currency": search.currency}
    return [write_output(out_dir / f"{stem}.system.txt", search.system + "\n", what="the prompt"),
            write_output(out_dir / f"{stem}.json", strict_json(meta, indent=1) + "\n", what="the prompt's record")]
