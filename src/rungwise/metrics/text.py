"""Normalisation and overlap measures shared by the metrics: exact match, SQuAD token F1, JSON field F1."""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from typing import Any


def _norm_value(v: Any) -> str:
    if isinstance(v, str):
        return re.sub(r"\s+", " ", v.strip()).casefold()
    return json.dumps(v, sort_keys=True)


def json_field_f1(pred: dict[str, Any], gold: dict[str, Any]) -> float:
    """Field-level F1: a field counts when the key exists in both and the values match after normalising."""
    if not pred and not gold:
        return 1.0
    matched = sum(1 for k, v in gold.items() if k in pred and _norm_value(pred[k]) == _norm_value(v))
    if matched == 0:
        return 0.0
    precision, recall = matched / len(pred), matched / len(gold)
    return 2 * precision * recall / (precision + recall)


_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
_PUNCT = set(string.punctuation)


def squad_normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(pred: str, gold: str) -> float:
    p, g = squad_normalize(pred).split(), squad_normalize(gold).split()
    if not p or not g:
        return float(p == g)
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def normalize_exact(text: str) -> str:
    """Exact match, normalised: case-folded, whitespace collapsed, wrapping quotes and a final period dropped."""
    previous = None
    while text != previous:
        previous = text
        text = text.strip().strip("\"'`")
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
    return " ".join(text.split()).casefold()
