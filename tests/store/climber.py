"""One climb with a slow fake model, as a process of its own: `python climber.py TASK STORE DELAY [--new]`.

Prints one JSON line: the run, the calls the climb made and took from the cache, and the requests its model saw
(their keys), so a test can count, across processes, what was asked twice."""

from __future__ import annotations

import json
import sys

from rungwise.engine.job import climb
from rungwise.engine.options import ClimbOptions
from rungwise.models.fake import FakeModel


def main() -> None:
    task, store, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    model = FakeModel(lambda request: "sales", delay_s=delay)  # wrong: the climb goes on
    result = climb(task, model, ClimbOptions(rungs=["baseline", "prompt"], store_path=store, concurrency=2,
                                             resume="--new" not in sys.argv[4:]))
    data = result.to_dict()
    print(json.dumps({"run_id": result.run_id, "calls": data["calls"], "cache_hits": data["cache_hits"],
                      "resumed": data["resumed"], "asked": [r.key() for r in model.calls]}))


if __name__ == "__main__":
    main()
