"""The cross-model frontier on small hand-built points: Pareto, each model's best, the recommendation and its
paired test."""

from __future__ import annotations

from rungwise.judge.frontier import Point, build_frontier, dominates, pareto_front, share_words


def _p(model: str, variant: str, score: float, cost: float, *, rows: list[float] | None = None, prompt: float = 100,
       rung: str = "prompt") -> Point:
    rows = rows if rows is not None else [1.0] * round(score * 10) + [0.0] * (10 - round(score * 10))
    return Point(model, variant, rung, score, max(0.0, score - 0.1), min(1.0, score + 0.1), len(rows), prompt, 2.0,
                 0.5, cost, cost * 1000, "USD", "run-" + model, {f"r{i}": s for i, s in enumerate(rows)})


def test_dominance_needs_one_strict_side() -> None:
    assert dominates((0.9, 1.0), (0.8, 1.0)) and dominates((0.8, 0.5), (0.8, 1.0))
    assert not dominates((0.8, 1.0), (0.8, 1.0))  # identical points dominate neither
    assert not dominates((0.9, 2.0), (0.8, 1.0))  # better but dearer


def test_pareto_front_drops_dominated_points_and_keeps_ties() -> None:
    pts = [_p("a", "cheap", 0.5, 1.0), _p("a", "mid", 0.7, 2.0), _p("b", "dear-worse", 0.6, 3.0),
           _p("b", "best", 0.9, 5.0), _p("b", "twin", 0.9, 5.0), _p("a", "dominated", 0.5, 1.5)]
    front = [p.key for p in pareto_front(pts, "cost")]
    assert front == ["a / cheap", "a / mid", "b / best", "b / twin"]


def test_recommends_the_cheapest_point_meeting_the_target_and_weighs_it_against_the_best() -> None:
    small = _p("small", "finetune", 0.8, 0.0002, prompt=52, rung="finetune")
    big_fs = _p("big", "fewshot-fixed", 0.9, 0.001, prompt=900, rung="fewshot")
    big_prompt = _p("big", "prompt", 0.6, 0.0004)
    f = build_frontier([small, big_fs, big_prompt, _p("small", "prompt", 0.3, 0.0001)], target=0.75)
    assert f.axis == "cost"
    assert f.recommended is not None and f.recommended.key == "small / finetune"
    assert f.rival is not None and f.rival.key == "big / fewshot-fixed"
    assert "a fifth of big's 'fewshot-fixed' cost" in f.recommendation
    assert "52 prompt tokens" in f.recommendation
    # the paired test pairs row by row: small right on rows 0-7, big on rows 0-8
    c = f.comparison
    assert c is not None and c.a == "small / finetune" and c.b == "big / fewshot-fixed"
    assert abs(c.difference - 0.1) < 1e-9 and c.method == "mcnemar-exact" and not c.significant
    assert "on the same 10 rows" in f.recommendation
    assert "big / prompt" not in f.frontier  # dearer than small/finetune and worse
    best = {m.model: (m.point.variant, m.meets_target) for m in f.models}
    assert best == {"small": ("finetune", True), "big": ("fewshot-fixed", True)}


def test_pairs_only_on_shared_row_ids() -> None:
    a = _p("a", "v", 0.8, 1.0)
    b = Point("b", "v", "prompt", 1.0, 0.9, 1.0, 3, 10, 1, 0.1, 2.0, 2000, "USD", "", {"r0": 1.0, "r1": 1.0, "x": 1.0})
    f = build_frontier([a, b], target=0.5)
    assert f.comparison is not None and f.comparison.difference == 0.0  # rows r0 and r1 only: both right on them
    assert "on the same 2 rows" in f.recommendation


def test_when_the_cheapest_is_also_the_best_it_is_weighed_against_the_other_model() -> None:
    f = build_frontier([_p("a", "prompt", 0.9, 1.0), _p("b", "prompt", 0.8, 4.0), _p("b", "fewshot", 0.7, 6.0)], 0.75)
    assert f.recommended is not None and f.recommended.key == "a / prompt"
    assert f.rival is not None and f.rival.key == "b / prompt"
    assert "a quarter of b's 'prompt' cost" in f.recommendation


def test_says_when_no_point_meets_the_target() -> None:
    f = build_frontier([_p("a", "prompt", 0.4, 1.0), _p("b", "prompt", 0.6, 3.0)], 0.9)
    assert f.recommended is None
    assert f.recommendation.startswith("No model meets the target of 90%: the best of 2 points from 2 models is b's")
    # what the best point buys over the next cheaper point of the frontier, paired
    assert f.rival is not None and f.rival.key == "a / prompt"
    assert f.comparison is not None and f.comparison.a == "a / prompt" and abs(f.comparison.difference - 0.2) < 1e-9
    assert ("Over the next cheaper point on the frontier, a / prompt (at a third of its cost), b / prompt gains "
            "+20.0 points on the same 10 rows") in f.recommendation
    assert [m.meets_target for m in f.models] == [False, False]
    d = f.to_dict()
    assert d["recommended"] is None and [p["on_frontier"] for p in d["points"]] == [True, True]
    alone = build_frontier([_p("a", "prompt", 0.4, 1.0)], 0.9)
    assert alone.rival is None and alone.comparison is None and "Over the next" not in alone.recommendation


def test_when_none_meets_a_twin_at_the_best_points_cost_is_not_its_rival() -> None:
    """A constrained twin that scores and costs what the best point does ties with it on the frontier: the
    comparison is with the next point that costs less (banking77 across two models had exactly this)."""
    points = [_p("a", "knn", 0.8, 1.0), _p("b", "knn", 0.9, 4.0), _p("b", "knn-constrained", 0.9, 4.0),
              _p("a", "finetune", 0.3, 0.1)]
    f = build_frontier(points, 0.95)
    assert f.recommended is None and f.comparison is not None and f.comparison.a == "a / knn"
    assert f.rival is not None and f.rival.key == "a / knn"
    assert "Over the next cheaper point on the frontier, a / knn (at a quarter of its cost)" in f.recommendation


def test_without_prices_the_frontier_is_in_tokens() -> None:
    cheap = _p("a", "prompt", 0.8, 0.0, prompt=50)
    dear = _p("b", "prompt", 0.8, 0.0, prompt=500)
    f = build_frontier([dear, cheap], 0.5)
    assert f.axis == "tokens" and f.recommended is not None and f.recommended.key == "a / prompt"
    assert f.frontier == ["a / prompt"] and "tokens per call" in f.recommendation


def test_share_words() -> None:
    assert share_words(1, 5) == "a fifth of"
    assert share_words(1, 2) == "half of"
    assert share_words(3, 4) == "75% of"
    assert share_words(1, 40) == "1/40 of"
    assert share_words(2, 2) == "the same as"
    assert share_words(0, 0) == "the same as"
