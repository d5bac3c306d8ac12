"""The command line: a thin layer over the Python API. Options also come from RUNGWISE_* variables."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rungwise.cancel import Terminated, stop_on_sigterm
from rungwise.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, RungwiseError, TaskError
from rungwise.outputs import strict_json, write_output
from rungwise.progress import PlainProgress, ProgressEvent
from rungwise.rungs import rung_names
from rungwise.textsafe import safe_text

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Which rung of the adaptation ladder solves your task?")
console = Console(stderr=True, soft_wrap=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])


def escape(text: str) -> str:
    """Every string from data, a server, a store or a task file passes here on its way to the terminal: control
    characters (terminal escapes) dropped, rich markup escaped."""
    return _markup_escape(safe_text(text))


def friendly(func: F) -> F:
    """Turn rungwise errors into a one-line message and their exit code (docs/hardening.md lists them); Ctrl-C and
    SIGTERM into a resume hint."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stop_on_sigterm()
        try:
            return func(*args, **kwargs)
        except RungwiseError as exc:
            console.print(f"[bold red]error:[/bold red] {escape(str(exc))}")
            raise typer.Exit(exc.exit_code) from None
        except Terminated:
            console.print("[yellow]terminated (SIGTERM).[/yellow] Every finished result is stored; run the same "
                          "command again to resume.")
            raise typer.Exit(EXIT_TERMINATED) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted.[/yellow] Every finished result is stored; run the same command again to resume.")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


StoreOpt = typer.Option(None, "--store", envvar="RUNGWISE_STORE",
                        help="Where runs, results and the response cache live: a SQLite file (default .rungwise/rungwise.db) "
                        "or a PostgreSQL URL, postgresql://host/database (credentials from the URL or PG* variables).")
TimeoutOpt = typer.Option(None, "--timeout", envvar="RUNGWISE_TIMEOUT", min=0.001,
                          help="Seconds to wait for each answer of an endpoint (default 15), per attempt.")
RetriesOpt = typer.Option(None, "--retries", envvar="RUNGWISE_RETRIES", min=0,
                          help="Attempts after the first on timeouts, 429/5xx and malformed answers (default 3).")
RpmOpt = typer.Option(None, "--rpm", envvar="RUNGWISE_RPM", min=1,
                      help="Requests per minute, never exceeded (default: task.toml's [model] rpm, else no limit).")
TpmOpt = typer.Option(None, "--tpm", envvar="RUNGWISE_TPM", min=1,
                      help="Tokens per minute, never exceeded (default: task.toml's [model] tpm, else no limit).")
CapsOpt = typer.Option(None, "--capabilities", envvar="RUNGWISE_CAPABILITIES",
                       help="Force a capability profile instead of discovering it: auto, grammar, choice, guided, "
                            "sglang, json_schema or none (docs/endpoints.md).")


def _deadlines(model: Any, timeout: float | None, retries: int | None, task: Any = None) -> None:
    """Apply --timeout/--retries (or their variables), else the task's `[model]` values, to an HTTP-backed model
    (the embedded one included)."""
    if task is not None:
        timeout = timeout if timeout is not None else task.spec.model.timeout_s
        retries = retries if retries is not None else task.spec.model.retries
    set_deadlines = getattr(model, "set_deadlines", None)
    if set_deadlines is not None and (timeout is not None or retries is not None):
        set_deadlines(timeout, retries)


@app.command()
@friendly
def init(name: Path = typer.Argument(..., help="The task folder to create.")) -> None:
    """Scaffold a task folder with a commented task.toml."""
    from rungwise.scaffold import init_task

    folder = init_task(name)
    out.print(f"Created {escape(str(folder))}/ (task.toml, train.jsonl, eval.jsonl). Edit them, then: rungwise climb {escape(str(folder))}")


@app.command("models")
@friendly
def models_cmd(
    model: str = typer.Option("local", "--model", "-m", envvar="RUNGWISE_MODEL",
                              help="'local' (the embedded model) or an OpenAI-compatible base URL ending in /v1."),
    model_name: str = typer.Option(None, "--model-name", envvar="RUNGWISE_MODEL_NAME", help="The model's name on the endpoint."),
    api_key_env: str = typer.Option(None, "--api-key-env", envvar="RUNGWISE_API_KEY_ENV",
                                    help="The environment variable that holds the endpoint's API key."),
    capabilities: str = CapsOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the capabilities as JSON on stdout."),
    timeout: float = TimeoutOpt,
    retries: int = RetriesOpt,
) -> None:
    """What a model's server is and can do: its kind, context length, constrained-output methods, tokenizer, logprobs."""
    import asyncio

    from rungwise.models.registry import resolve_model

    m = resolve_model(model, model_name=model_name, api_key_env=api_key_env, capabilities=capabilities)
    _deadlines(m, timeout, retries)

    async def discover() -> Any:
        try:
            return await m.open()
        finally:
            await m.aclose()

    info = asyncio.run(discover())
    caps = info.capabilities
    data = {"model": info.served_model, "fingerprint": info.fingerprint, "server_kind": info.server_kind,
            **caps.to_dict(), "constrained_output": caps.methods()}
    if as_json:
        out.print_json(strict_json(data))
        return
    unknown = "unknown"
    lines = [
        ("model", info.served_model), ("server", info.server_kind), ("fingerprint", info.fingerprint),
        ("context length", f"{caps.context_length:,} tokens" if caps.context_length else unknown),
        ("constrained output", ", ".join(caps.methods()) + f" (sent as: {caps.dialect})" if caps.methods() else "none"),
        ("tokenizer", "the server's /tokenize" if caps.tokenize else "none: counts are estimates, calibrated from usage"),
        ("logprobs", unknown if caps.logprobs is None else "yes" if caps.logprobs else "no"),
        ("capabilities", caps.source),
    ]
    for key, value in lines:
        out.print(f"{key:>19}: {escape(str(value))}")


@app.command("climb")
@friendly
def climb_cmd(
    task: Path = typer.Argument(..., help="The task folder (task.toml, train.jsonl, eval.jsonl)."),
    model: list[str] = typer.Option(None, "--model", "-m", envvar="RUNGWISE_MODEL",
                                    help="'local' (the embedded model, the default) or an OpenAI-compatible base URL "
                                    "ending in /v1 (URL#name names its model). Give it more than once to climb several "
                                    "models on the same eval rows and get the frontier (docs/frontier.md); without it, "
                                    "task.toml's [[models]], else local."),
    model_name: list[str] = typer.Option(None, "--model-name", envvar="RUNGWISE_MODEL_NAME",
                                         help="The model's name on the endpoint; with several --model, the n-th name "
                                         "goes to the n-th URL."),
    api_key_env: str = typer.Option(None, "--api-key-env", envvar="RUNGWISE_API_KEY_ENV",
                                    help="The environment variable that holds the endpoint's API key (every URL's)."),
    full: bool = typer.Option(False, "--full", help="Score every eval row, not the task's seeded sample."),
    sample: int = typer.Option(None, "--sample", min=1, help="Score this many eval rows (seeded), instead of the task's sample size."),
    all_rungs: bool = typer.Option(False, "--all", help="Climb every rung, even after one meets the target."),
    score_every_row: bool = typer.Option(False, "--score-every-row", help="Score every variant on every eval row: no "
                                         "early stop of a variant that cannot meet the target (docs/early-stop.md)."),
    rungs: str = typer.Option(None, "--rungs", help="Comma-separated rungs to run, in ladder order: "
                              f"{', '.join(rung_names())}."),
    concurrency: int = typer.Option(None, "--concurrency", min=1, help="Requests in flight (default: the backend's)."),
    store: str = StoreOpt,
    new: bool = typer.Option(False, "--new", help="Start a new run instead of resuming an unfinished one."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Estimate the tokens and cost of every variant; call no model."),
    max_cost: float = typer.Option(None, "--max-cost", min=0, help="Stop before a variant that would take the climb past this cost."),
    leakage: str = typer.Option(None, "--leakage", help="When eval rows leak from train: stop, drop or warn (overrides task.toml)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    report: Path = typer.Option(None, "--report", help="Also write the run's HTML report to this file."),
    curve: bool = typer.Option(False, "--curve", help="Also score the kNN few-shot and fine-tune variants on smaller "
                               "pools: learning curves, the rows the target needs and their labelling cost."),
    decide: bool = typer.Option(None, "--decide/--no-decide", help="Where the verdict hangs, score more rows of the "
                                "variants it rests on, in looks, until it resolves (docs/decide.md); default: task.toml."),
    decide_budget: str = typer.Option(None, "--decide-budget", help="What --decide may spend: '1500 rows', '30 min' "
                                      "or '2.5 USD' (default: task.toml's, else the eval file's rows)."),
    timeout: float = TimeoutOpt,
    retries: int = RetriesOpt,
    rpm: int = RpmOpt,
    tpm: int = TpmOpt,
    capabilities: str = CapsOpt,
) -> None:
    """Climb the ladder on the held-out eval; stop at the first rung that meets the target."""
    from rungwise.climb import ClimbOptions, climb
    from rungwise.models.registry import resolve_model
    from rungwise.multiclimb import models_from_cli, models_from_task
    from rungwise.report.terminal import print_climb
    from rungwise.task import Task

    t = Task.load(task)
    choices = models_from_cli(model, model_name or [], api_key_env=api_key_env) if model else models_from_task(t)
    if leakage not in (None, "stop", "drop", "warn"):
        raise TaskError(f"--leakage takes stop, drop or warn, not {leakage!r}.")
    options = ClimbOptions(full=full, all_rungs=all_rungs, rungs=rungs.split(",") if rungs else None,
                           concurrency=concurrency, store_path=store, resume=not new, dry_run=dry_run,
                           max_cost=max_cost, leakage=leakage, sample=sample, curve=curve,
                           early_stop=not score_every_row, decide=decide, decide_budget=decide_budget)
    if len(choices) > 1 or (not model and t.spec.models):
        _climb_models(t, choices, options, as_json, report, timeout, retries, rpm, tpm, capabilities)
        return
    if len(model_name or []) > 1:
        raise TaskError(f"{len(model_name)} --model-name for one --model: give one name per endpoint URL.")
    choice = choices[0] if choices else None
    m = resolve_model(choice.spec if choice else "local", model_name=choice.name if choice else None,
                      api_key_env=api_key_env, concurrency=concurrency, rpm=rpm, tpm=tpm, capabilities=capabilities)
    _deadlines(m, timeout, retries, t)
    with _progress() as (callback, _):
        result = climb(t, m, options, progress=callback)
    if as_json:
        out.print_json(strict_json(result.to_dict()))
    else:
        print_climb(result, out)
    if report is not None and not dry_run:
        _write_report(store, result.run_id, report)


@app.command("distill")
@friendly
def distill_cmd(
    task: Path = typer.Argument(..., help="The task folder (an unlabelled.jsonl there holds the inputs to label)."),
    teacher: str = typer.Option(None, "--teacher", help="The variant that labels, from a climb of the task: "
                                "fewshot-knn, rag-hybrid, ... (climbed first when no run has it; default: task.toml's "
                                "[distill] teacher)."),
    rows: int = typer.Option(None, "--rows", min=1, help="Inputs to label (default: [distill] rows, else [finetune] "
                             "max_examples)."),
    teacher_model: str = typer.Option(None, "--teacher-model", help="The teacher's model: 'local' or a URL ending "
                                      "in /v1 (default: the student's, --model)."),
    teacher_model_name: str = typer.Option(None, "--teacher-model-name", help="The teacher's model name on its endpoint."),
    model: str = typer.Option("local", "--model", "-m", envvar="RUNGWISE_MODEL",
                              help="The student's model: it must be one rungwise can fine-tune (the embedded one)."),
    run: str = typer.Option(None, "--run", help="The run to add the student to (default: the task's latest "
                            "finished run of the student's model)."),
    api_key_env: str = typer.Option(None, "--api-key-env", envvar="RUNGWISE_API_KEY_ENV",
                                    help="The environment variable that holds the teacher endpoint's API key."),
    concurrency: int = typer.Option(None, "--concurrency", min=1, help="Requests in flight (default: the backend's)."),
    store: str = StoreOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the distillation as JSON on stdout."),
    report: Path = typer.Option(None, "--report", help="Also write the run's HTML report to this file."),
    timeout: float = TimeoutOpt,
    retries: int = RetriesOpt,
) -> None:
    """Distil: the teacher variant labels inputs nobody labelled; the short-prompt fine-tune learns its answers and
    is scored beside the fine-tune on human labels (docs/distill.md)."""
    from rungwise.distill import DistillOptions, distill
    from rungwise.models.registry import resolve_model
    from rungwise.report.record import load_report, to_climb_result
    from rungwise.report.terminal import ladder_table, print_distill
    from rungwise.store import Store
    from rungwise.task import Task

    t = Task.load(task)
    student = resolve_model(model, concurrency=concurrency)
    _deadlines(student, timeout, retries, t)
    teacher_m = None
    if teacher_model is not None:
        teacher_m = resolve_model(teacher_model, model_name=teacher_model_name, api_key_env=api_key_env,
                                  concurrency=concurrency)
        _deadlines(teacher_m, timeout, retries, t)
    options = DistillOptions(teacher=teacher, rows=rows, teacher_model=teacher_m, run=run, store_path=store,
                             concurrency=concurrency)
    with _progress() as (callback, _):
        result = distill(t, student, options, progress=callback)
    if as_json:
        out.print_json(strict_json(result.to_dict()))
    else:
        with Store(store) as s:
            climbed = to_climb_result(load_report(s, result.run_id))
        out.print(ladder_table(climbed, out.width))
        print_distill(result.to_dict(), out)
    if report is not None:
        _write_report(store, result.run_id, report)


def _climb_models(t: Any, choices: list[Any], options: Any, as_json: bool, report: Path | None, timeout: float | None,
                  retries: int | None, rpm: int | None, tpm: int | None, capabilities: str | None) -> None:
    """climb with several models: each climbed in turn, then the frontier (rungwise.multiclimb)."""
    import dataclasses

    from rungwise.models.registry import resolve_model
    from rungwise.multiclimb import climb_models
    from rungwise.report.terminal import print_multi

    live = []
    for c in choices:  # the CLI's limits win over the task's and the entry's
        m = resolve_model(c.spec, model_name=c.name, api_key_env=c.api_key_env, concurrency=options.concurrency,
                          rpm=rpm or c.rpm, tpm=tpm or c.tpm, capabilities=capabilities)
        _deadlines(m, timeout, retries, t)
        live.append(dataclasses.replace(c, model=m))
    with _progress() as (callback, _):
        result = climb_models(t, live, options, progress=callback)
    if as_json:
        out.print_json(strict_json(result.to_dict()))
    else:
        print_multi(result, out)
    if report is not None and result.frontier is not None:
        from rungwise.report.frontier_html import write_frontier

        console.print(f"report written to {escape(str(write_frontier(result, report)))}")


class _progress:
    """A rich progress bar per variant, drawn on stderr when it is a terminal; plain lines (one per variant, and
    every 10 s) when it is not, as in CI logs."""

    def __enter__(self) -> tuple[Callable[[ProgressEvent], None], Progress]:
        tty = sys.stderr.isatty()
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TimeRemainingColumn(), console=console, transient=False, disable=not tty)
        self.tasks: dict[str, Any] = {}
        self.bar.start()
        if not tty:
            return PlainProgress(lambda line: print(f"rungwise: {line}", file=sys.stderr, flush=True)), self.bar

        def callback(event: ProgressEvent) -> None:
            label = event.label
            if label not in self.tasks:
                self.tasks[label] = self.bar.add_task(escape(label), total=event.total)
            self.bar.update(self.tasks[label], completed=event.done, total=event.total)

        return callback, self.bar

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


@app.command()
@friendly
def check(
    task: Path = typer.Argument(..., help="The task folder."),
    near: bool = typer.Option(True, "--near/--exact-only", help="Also look for near-identical inputs by embedding."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON on stdout."),
) -> None:
    """Check the dataset before anything is scored: leakage, duplicates, conflicts, spec breaks, eval size.

    Exits 1 when a finding is an error (leakage), so CI can stop on it.
    """
    from rungwise.checks import run_checks
    from rungwise.report.terminal import checks_table
    from rungwise.task import Task

    t = Task.load(task)
    report = run_checks(t, near=near and t.spec.checks.near_duplicates)
    if as_json:
        out.print_json(strict_json(report.to_dict()))
    else:
        out.print(checks_table(report))
    if report.errors:
        raise typer.Exit(1)


@app.command("export-finetune")
@friendly
def export_finetune(
    task: Path = typer.Argument(..., help="The task folder."),
    out_dir: Path = typer.Option(Path("finetune-data"), "--out", help="Where to write the files."),
    max_examples: int = typer.Option(None, "--max-examples", min=1, help="At most this many train rows."),
) -> None:
    """Write the training set for a hosted or GPU fine-tune: OpenAI chat JSONL and prompt/completion JSONL."""
    from rungwise.rungs.finetune import export_training_files
    from rungwise.task import Task

    paths = export_training_files(Task.load(task), out_dir, max_examples=max_examples)
    for kind, path in paths.items():
        out.print(f"{kind}: {escape(str(path))}")


@app.command("compare")
@friendly
def compare_cmd(
    run_a: str = typer.Argument(..., help="The reference run id (a prefix is enough)."),
    run_b: str = typer.Argument(..., help="The run to compare with it."),
    store: str = StoreOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON on stdout."),
    report: Path = typer.Option(None, "--report", help="Also write the comparison as an HTML page to this file."),
) -> None:
    """Paired diff of two runs, variant by variant, on the examples both scored (b minus a)."""
    from rich.table import Table

    from rungwise.compare import compare_runs, model_change
    from rungwise.store import Store
    from rungwise.textsafe import safe_text

    diffs = compare_runs(Store(store), run_a, run_b)
    change = model_change(Store(store), run_a, run_b)
    if report is not None:
        from rungwise.report.compare_html import write_compare

        console.print(f"comparison written to {escape(str(write_compare(Store(store), run_a, run_b, report)))}")
    if as_json:
        out.print_json(strict_json({"variants": [d.to_dict() for d in diffs], "model": change.to_dict()}))
        return
    for line in change.lines():
        out.print(f"[yellow]{escape(safe_text(line))}[/yellow]")
    from rich.table import Column

    table = Table("variant", "n", "a", "b", "b - a [95% CI]", "p", Column("rows -/+", no_wrap=True),
                  Column("verdict", no_wrap=True))
    for d in diffs:
        verdict = "[red]regressed[/red]" if d.regressed else "[green]improved[/green]" if d.improved else "no measurable change"
        table.add_row(escape(d.variant), str(d.n), f"{d.score_a:.1%}", f"{d.score_b:.1%}",
                      f"{d.difference * 100:+.1f} [{d.low * 100:+.1f}, {d.high * 100:+.1f}]", f"{d.p_value:.3g}",
                      f"{d.worse_rows}/{d.better_rows}", verdict)
    out.print(table)


@app.command()
@friendly
def gate(
    task: Path = typer.Argument(..., help="The task folder."),
    baseline: str = typer.Option(None, "--baseline",
                                 help="The run to hold the line against (its id or a prefix); default: the task's "
                                 "baseline (rungwise baseline set)."),
    model: str = typer.Option("local", "--model", "-m", envvar="RUNGWISE_MODEL"),
    model_name: str = typer.Option(None, "--model-name", envvar="RUNGWISE_MODEL_NAME"),
    api_key_env: str = typer.Option(None, "--api-key-env", envvar="RUNGWISE_API_KEY_ENV"),
    margin: float = typer.Option(None, "--margin", min=0.0001, max=0.9999, envvar="RUNGWISE_GATE_MARGIN",
                                 help="Fail unless the eval rules out a drop larger than this (0.02: 2 points), on "
                                 "the paired difference's 95% interval. Default: fail on significant drops only."),
    allow_underpowered: bool = typer.Option(False, "--allow-underpowered",
                                            help="Pass a variant whose eval is too small to rule out the margin."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON on stdout."),
    junit: Path = typer.Option(None, "--junit", help="Also write the verdicts as a JUnit XML file for CI."),
    report: Path = typer.Option(None, "--report", help="Also write the new run's HTML report to this file."),
    store: str = StoreOpt,
    timeout: float = TimeoutOpt,
    retries: int = RetriesOpt,
    rpm: int = RpmOpt,
    tpm: int = TpmOpt,
    capabilities: str = CapsOpt,
) -> None:
    """For CI: re-score the baseline run's rungs on its own eval rows; exit 1 on a significant regression, or, with
    --margin, unless the eval rules out a drop larger than the margin."""
    from rungwise.gate import gate as run_gate
    from rungwise.models.registry import resolve_model
    from rungwise.task import Task

    t = Task.load(task)
    m = resolve_model(model, model_name=model_name, api_key_env=api_key_env, rpm=rpm, tpm=tpm, capabilities=capabilities)
    _deadlines(m, timeout, retries, t)
    outcome = run_gate(t, baseline, m, store_path=store, margin=margin, allow_underpowered=allow_underpowered)
    if junit is not None:
        write_output(junit, outcome.junit_xml(), what="the JUnit file")
    if report is not None:
        _write_report(store, outcome.result.run_id, report)
    if as_json:
        out.print_json(strict_json(outcome.to_dict()))
    else:
        for note in outcome.model.lines() if outcome.model is not None else []:
            out.print(f"[yellow]{escape(note)}[/yellow]")
        for v in outcome.verdicts:
            d = v.diff
            need = f", about {v.rows_needed} rows would rule out the margin" if v.rows_needed else ""
            out.print(f"{v.status.upper():12} {escape(d.variant)}: {d.score_a:.1%} -> {d.score_b:.1%} "
                      f"({d.difference * 100:+.1f} points, 95% CI [{d.low * 100:+.1f}, {d.high * 100:+.1f}], "
                      f"p={d.p_value:.3g}, n={d.n}{need})")
    line = escape(outcome.verdict_line())
    if not outcome.passed:
        console.print(f"[bold red]{line}[/bold red]")
        raise typer.Exit(1)
    (console if as_json else out).print(line)


baseline_app = typer.Typer(no_args_is_help=True, help="Name the run a task's gate holds the line against.")
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("set")
@friendly
def baseline_set(
    task: Path = typer.Argument(..., help="The task folder."),
    run: str = typer.Argument(..., help="The run to promote (its id or a prefix); see: rungwise runs --task NAME."),
    store: str = StoreOpt,
) -> None:
    """Promote a finished run of the task to its baseline (the gate uses it when --baseline is not given)."""
    from rungwise.errors import StoreError
    from rungwise.store import Store
    from rungwise.task import Task

    name = Task.load(task).name
    with Store(store) as s:
        info = s.get_run(run)
        if info.task_name != name:
            raise StoreError(f"Run {info.id} is a run of task {info.task_name!r}, not {name!r}.")
        if info.status != "done":
            raise StoreError(f"Run {info.id} is {info.status}, not finished: finish it (run the same climb again) "
                             "before promoting it.")
        s.set_baseline(name, info.id)
    out.print(f"baseline of {escape(name)}: run {escape(info.id)}")
    stopped = [v for v in (info.summary or {}).get("variants") or [] if v.get("stopped")]
    if stopped:
        short = ", ".join(f"{v['name']} ({v['stopped']['rows']} rows)" for v in stopped)
        out.print(f"[yellow]note:[/yellow] {escape(short)} stopped early in this run: the gate can compare them on "
                  f"those rows only, not on all {stopped[0]['stopped']['of']}. For a baseline with every row: climb "
                  "with --score-every-row and promote that run.")


@baseline_app.command("show")
@friendly
def baseline_show(task: Path = typer.Argument(..., help="The task folder."), store: str = StoreOpt) -> None:
    """The task's baseline run and the ones before it."""
    from datetime import datetime

    from rich.table import Table

    from rungwise.store import Store
    from rungwise.task import Task

    name = Task.load(task).name
    with Store(store) as s:
        history = s.baselines(name)
        if not history:
            out.print(f"{escape(name)} has no baseline yet: rungwise baseline set {escape(str(task))} RUN")
            raise typer.Exit(1)
        table = Table("", "run", "set", "model", "shipped", "score")
        for i, (run_id, set_at) in enumerate(history):
            info = s.get_run(run_id)
            shipped, score = _shipped(info.summary)
            table.add_row("current" if i == 0 else "", escape(run_id),
                          datetime.fromtimestamp(set_at).strftime("%Y-%m-%d %H:%M"), escape(info.model),
                          escape(shipped), score)
    out.print(table)


def _shipped(summary: dict[str, Any] | None) -> tuple[str, str]:
    """The shipped variant of a run's summary and its score, as text."""
    summary = summary or {}
    shipped = summary.get("shipped")
    scores = {v.get("name"): v.get("score") for v in summary.get("variants") or [] if isinstance(v, dict)}
    score = scores.get(shipped)
    return str(shipped or "-"), f"{score:.1%}" if isinstance(score, (int, float)) else "-"


@app.command()
@friendly
def runs(
    store: str = StoreOpt,
    limit: int = typer.Option(20, "--limit", min=1),
    task: str = typer.Option(None, "--task", help="Only runs of this task (its name in task.toml)."),
    model: str = typer.Option(None, "--model", help="Only runs of a model whose fingerprint contains this."),
    status: str = typer.Option(None, "--status", help="Only runs with this status: running or done."),
) -> None:
    """List the runs in the store, newest first: each run's shipped variant, its score and its date."""
    from datetime import datetime

    from rich.table import Table

    from rungwise.store import Store

    with Store(store) as s:
        found = s.list_runs(limit, task=task, model=model, status=status)
    table = Table("run", "task", "model", "status", "shipped", "score", "date")
    for r in found:
        shipped, score = _shipped(r.summary)
        table.add_row(escape(r.id), escape(r.task_name), escape(r.model), escape(r.status), escape(shipped), score,
                      datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M"))
    out.print(table)


store_app = typer.Typer(no_args_is_help=True, help="Look after stores: copy one into another.")
app.add_typer(store_app, name="store")


@store_app.command("migrate")
@friendly
def store_migrate(
    src: str = typer.Argument(..., help="The store to copy from: a SQLite file (or a postgresql:// URL)."),
    dst: str = typer.Argument(..., help="The store to copy into: a postgresql:// URL (or a SQLite file)."),
) -> None:
    """Copy every run, result, cached response, artifact and report of SRC into DST (rows DST holds are kept)."""
    from rich.table import Table

    from rungwise.store import Store, copy_store

    with Store(src) as source, Store(dst) as target:
        done = copy_store(source, target)
        table = Table("table", "in source", "added", "already there", "left out (no such run)")
        for name, seen in done.source.items():
            added, orphans = done.added[name], done.orphans[name]
            table.add_row(name, str(seen), str(added), str(seen - added - orphans), str(orphans))
        out.print(table)
        out.print(f"copied {escape(source.name)} into {escape(target.name)}")


def _write_report(store: str | None, run_id: str, path: Path) -> None:
    from rungwise.report.html import write_run_report
    from rungwise.store import Store

    console.print(f"report written to {escape(str(write_run_report(Store(store), run_id, path)))}")


@app.command("report")
@friendly
def report_cmd(
    run: str = typer.Argument(..., help="The run id (a prefix is enough); see: rungwise runs."),
    output: Path = typer.Option(None, "--output", "-o", help="The HTML file to write (default: rungwise-report-RUN.html)."),
    store: str = StoreOpt,
) -> None:
    """Write the self-contained HTML report of a stored run (it opens offline, from disk)."""
    from rungwise.store import Store

    run_id = Store(store).get_run(run).id
    _write_report(store, run_id, output or Path(f"rungwise-report-{run_id}.html"))


@app.command()
@friendly
def show(run: str = typer.Argument(..., help="The run id (a prefix is enough)."), store: str = StoreOpt) -> None:
    """Print a stored run's ladder and recommendation in the terminal, from its stored record."""
    from rungwise.report.record import load_report, to_climb_result
    from rungwise.report.terminal import print_climb
    from rungwise.store import Store

    print_climb(to_climb_result(load_report(Store(store), run)), out)


def main() -> None:  # pragma: no cover
    app()
