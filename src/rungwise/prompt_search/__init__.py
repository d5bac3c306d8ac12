"""The prompt search: the first rung done honestly. Before the ladder moves on from a clear prompt, search for a
better task instruction on a dev split carved from train (never an eval row), in the manner of GEPA (Agrawal et
al. 2025, reflective prompt evolution): run candidates on a minibatch of dev rows, show a proposer model the
failures with the expected answers and the metric's feedback, ask it for a better instruction, keep the
candidates that are best on some dev row, and spend a budget of metric calls where it helps.

- `split`: the dev split (and the rows the proposer learns from), checked against the eval rows;
- `budget`: the budget in metric calls and its presets;
- `reflection`: what the proposer is asked, and how its answer becomes an instruction;
- `loop`: the search itself, pure: it calls the model only through the functions it is given.

The rung that runs it is `rungwise.rungs.prompt_search`.
"""
