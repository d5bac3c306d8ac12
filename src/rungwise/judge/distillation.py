"""A distillation's figures in words: what the student kept of the teacher, what it saves per call and per month,
what the teacher's labels cost against human ones (read by the terminal, the HTML report and `DistillResult`)."""

from __future__ import annotations

from typing import Any


def distill_sentences(d: dict[str, Any]) -> list[str]:
    """The distillation in words, from its `to_dict()` (the terminal and the HTML report both print these)."""
    cur = d.get("currency", "")
    teacher, human = d["teacher"], d["human"]
    scores = d.get("scores") or {}
    out = [f"{d['student']} learned from {teacher}'s answers to {d['asked']:,} {d['inputs']['source']} inputs: "
           f"{d['kept']:,} kept ({d['kept_share']:.1%}), {d['format_failures']:,} dropped for their format"
           + (f"; the teacher agreed with the withheld human labels on {d['agreement']:.1%}"
              if d.get("agreement") is not None else "") + "."]
    keeps = d.get("keeps")
    vt, vh = d.get("vs_teacher"), d.get("vs_human")
    line = f"It scores {scores.get(d['student'], 0):.1%}"
    if keeps is not None:
        line += f", {keeps:.1%} of the teacher's {scores.get(teacher, 0):.1%}"
    if vt:
        line += f" ({vt['difference'] * 100:+.1f} points [{vt['low'] * 100:+.1f}, {vt['high'] * 100:+.1f}], p={vt['p_value']:.2g})"
    if vh:
        line += (f"; against {human} on human labels ({scores.get(human, 0):.1%}) {vh['difference'] * 100:+.1f} points "
                 f"[{vh['low'] * 100:+.1f}, {vh['high'] * 100:+.1f}], p={vh['p_value']:.2g}"
                 + (" (significant)" if vh["significant"] else " (no measurable difference)"))
    out.append(line + ".")
    pc, pm = d["per_call"], d["per_month"]
    out.append(f"Per call it costs {pc['student']:.8f} {cur} against the teacher's {pc['teacher']:.8f} "
               f"({pc['student_prompt_tokens']:.0f} prompt tokens against {pc['teacher_prompt_tokens']:.0f}): "
               f"{pc['saving']:.8f} {cur} saved per call, {pm['saving']:,.2f} {cur} a month at "
               f"{d['calls_per_month']:,} calls.")
    lab = d["labelling"]
    out.append(f"The teacher's labels cost {lab['cost']:.4f} {cur} ({lab['calls']:,} calls, "
               f"{lab['prompt_tokens']:,} prompt and {lab['completion_tokens']:,} completion tokens, measured); "
               f"human labels for the same {d['inputs']['rows']:,} rows cost {d['human_labelling_cost']:,.2f} {cur}.")
    return out
