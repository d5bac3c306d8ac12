"""The command line: a thin layer over the Python API. Options also come from RUNGWISE_* variables."""

from __future__ import annotations

import sys  # noqa: F401 - the progress bar asks sys.stderr whether it is a terminal (tests patch it here)
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from rungwise import cli_flags as flag
from rungwise.cancel import Terminated, stop_on_sigterm
from rungwise.distillation.job import DistillOptions, distill
from rungwise.engine.compare import compare_runs, model_change
from rungwise.engine.gate import gate as run_gate
from rungwise.engine.job import ClimbOptions, ClimbResult, climb
from rungwise.engine.multi import MultiClimbResult, climb_models, model_choices
from rungwise.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, RungwiseError
from rungwise.models.registry import offered_adapters, open_model, resolve_model
from rungwise.outputs import strict_json, write_output
from rungwise.report import terminal as term
from rungwise.report.fit import escape
from rungwise.report.live import LiveProgress
from rungwise.report.live import Remaining as _Remaining  # noqa: F401 - the progress bar's column, for its tests
from rungwise.rungs import rung_names
from rungwise.store import Store, copy_store
from rungwise.task.spec import Task

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Which rung of the adaptation ladder solves your task?")
console = Console(stderr=True, soft_wrap=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])


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


@app.command()
@friendly
def init(name: Path = typer.Argument(..., help="The task folder to create.")) -> None:
    """Scaffold a task folder with a commented task.toml."""
    from rungwise.task.scaffold import init_task

    folder = init_task(name)
    out.print(f"Created {escape(str(folder))}/ (task.toml, train.jsonl, eval.jsonl). Edit them, then: rungwise climb {escape(str(folder))}")


@app.command("models")
@friendly
def models_cmd(
    model: str = flag.ModelOpt,
    model_name: str = flag.ModelNameOpt,
    api_key_env: str = flag.api_key(),
    capabilities: str = flag.CapsOpt,
    as_json: bool = flag.json_flag("the capabilities"),
    timeout: float = flag.TimeoutOpt,
    retries: int = flag.RetriesOpt,
) -> None:
    """What a model's server is and can do: its kind, context length, constrained-output methods, tokenizer, logprobs."""
    m = resolve_model(model, model_name=model_name, api_key_env=api_key_env, capabilities=capabilities,
                      timeout_s=timeout, retries=retries)
    info = open_model(m)
    offer = offered_adapters(m)
    adapters = {"method": offer.method, "detail": offer.detail} if offer is not None else None
    if as_json:
        out.print_json(strict_json({**term.model_info_dict(info), "adapters": adapters}))
    else:
        term.print_model_info(info, out, adapters=offer.detail if offer is not None else None)


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
    api_key_env: str = flag.api_key("the endpoint's (every URL's)"),
    full: bool = typer.Option(False, "--full", help="Score every eval row, not the task's seeded sample."),
    sample: int = typer.Option(None, "--sample", min=1, help="Score this many eval rows (seeded), instead of the task's sample size."),
    all_rungs: bool = typer.Option(False, "--all", help="Climb every rung, even after one meets the target."),
    score_every_row: bool = typer.Option(False, "--score-every-row", help="Score every variant on every eval row: no "
                                         "early stop of a variant that cannot meet the target (docs/early-stop.md)."),
    rungs: str = typer.Option(None, "--rungs", help="Comma-separated rungs to run, in ladder order: "
                              f"{', '.join(rung_names())}."),
    proposer: str = typer.Option(None, "--proposer", help="The model that proposes instructions to the prompt "
                                 "search: 'local' or 'URL#model-name' (default: task.toml's, else the task's model)."),
    variants: str = typer.Option(None, "--variants", help="Comma-separated variants to score (e.g. "
                                 "'fewshot-knn-constrained,knn-label'); the others of their rungs are skipped."),
    cancel_remote: bool = typer.Option(False, "--cancel-remote", help="Cancelled while a hosted fine-tuning job runs "
                                       "([finetune] hosted), cancel the job at the provider too; without it the job "
                                       "goes on and the same climb run again follows it."),
    base_weights: Path = typer.Option(None, "--base-weights", help="The Hugging Face folder of the model --model "
                                      "serves: the fine-tune rung trains a LoRA on it with TRL and serves the adapter "
                                      "on that server (docs/finetune.md)."),
    accelerate_config: Path = typer.Option(None, "--accelerate-config", help="Train under `accelerate launch` with "
                                           "this config file (several GPUs or nodes, DeepSpeed or FSDP)."),
    concurrency: int = flag.ConcurrencyOpt,
    store: str = flag.StoreOpt,
    new: bool = typer.Option(False, "--new", help="Start a new run instead of resuming an unfinished one."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Estimate the tokens and cost of every variant; call no model."),
    max_cost: float = typer.Option(None, "--max-cost", min=0, help="Stop before a variant that would take the climb past this cost."),
    leakage: str = typer.Option(None, "--leakage", help="When eval rows leak from train: stop, drop or warn (overrides task.toml)."),
    as_json: bool = flag.json_flag("the result"),
    report: Path = flag.report_flag(),
    curve: bool = typer.Option(False, "--curve", help="Also score the kNN few-shot and fine-tune variants on smaller "
                               "pools: learning curves, the rows the target needs and their labelling cost."),
    decide: bool = typer.Option(None, "--decide/--no-decide", help="Where the verdict hangs, score more rows of the "
                                "variants it rests on, in looks, until it resolves (docs/decide.md); default: task.toml."),
    decide_budget: str = typer.Option(None, "--decide-budget", help="What --decide may spend: '1500 rows', '30 min' "
                                      "or '2.5 USD' (default: task.toml's, else the eval file's rows)."),
    timeout: float = flag.TimeoutOpt,
    retries: int = flag.RetriesOpt,
    rpm: int = flag.RpmOpt,
    tpm: int = flag.TpmOpt,
    capabilities: str = flag.CapsOpt,
) -> None:
    """Climb the ladder on the held-out eval; stop at the first rung that meets the target."""
    t = Task.load(task)
    options = ClimbOptions(full=full, all_rungs=all_rungs, rungs=rungs.split(",") if rungs else None,
                           variants=variants.split(",") if variants else None, proposer=proposer,
                           cancel_remote=cancel_remote, base_weights=base_weights,
                           accelerate_config=accelerate_config,
                           concurrency=concurrency, store_path=store, resume=not new, dry_run=dry_run,
                           max_cost=max_cost, leakage=leakage, sample=sample, curve=curve,
                           early_stop=not score_every_row, timeout_s=timeout, retries=retries, decide=decide,
                           decide_budget=decide_budget)
    choices = model_choices(t, model or [], model_name or [], api_key_env=api_key_env, rpm=rpm, tpm=tpm,
                            capabilities=capabilities)
    multi = len(choices) > 1 or (not model and bool(t.spec.models))
    with _progress() as (callback, _):
        result: ClimbResult | MultiClimbResult = (
            climb_models(t, choices, options, progress=callback) if multi
            else climb(t, choices[0].resolve(concurrency=concurrency), options, progress=callback))
    if as_json:
        out.print_json(strict_json(result.record().model_dump(mode="json") if isinstance(result, ClimbResult)
                                   else result.to_dict()))
    elif isinstance(result, MultiClimbResult):
        term.print_multi(result, out)
    else:
        term.print_climb(result.record(), out)
    if report is not None and not dry_run:
        _write_report(store, result, report)


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
    api_key_env: str = flag.api_key("the teacher endpoint's"),
    concurrency: int = flag.ConcurrencyOpt,
    store: str = flag.StoreOpt,
    as_json: bool = flag.json_flag("the distillation"),
    report: Path = flag.report_flag(),
    timeout: float = flag.TimeoutOpt,
    retries: int = flag.RetriesOpt,
) -> None:
    """Distil: the teacher variant labels inputs nobody labelled; the short-prompt fine-tune learns its answers and
    is scored beside the fine-tune on human labels (docs/distill.md)."""
    from rungwise.record.stored import load_report

    t = Task.load(task)
    teacher_m = None if teacher_model is None else resolve_model(
        teacher_model, model_name=teacher_model_name, api_key_env=api_key_env, concurrency=concurrency)
    options = DistillOptions(teacher=teacher, rows=rows, teacher_model=teacher_m, run=run, store_path=store,
                             concurrency=concurrency, timeout_s=timeout, retries=retries)
    with _progress() as (callback, _):
        result = distill(t, resolve_model(model, concurrency=concurrency), options, progress=callback)
    if as_json:
        out.print_json(strict_json(result.to_dict()))
    else:
        with Store(store) as s:
            term.print_distilled(load_report(s, result.run_id).result, result.to_dict(), out)
    if report is not None:
        _write_report(store, result, report)


def _progress() -> LiveProgress:
    """Progress on stderr while a command works (rungwise.report.live)."""
    return LiveProgress(console)


@app.command()
@friendly
def check(
    task: Path = flag.TaskArg,
    near: bool = typer.Option(True, "--near/--exact-only", help="Also look for near-identical inputs by embedding."),
    as_json: bool = flag.json_flag("the findings"),
) -> None:
    """Check the dataset before anything is scored: leakage, duplicates, conflicts, spec breaks, eval size.

    Exits 1 when a finding is an error (leakage), so CI can stop on it.
    """
    from rungwise.task.checks import run_checks

    t = Task.load(task)
    report = run_checks(t, near=near)
    if as_json:
        out.print_json(strict_json(report.to_dict()))
    else:
        out.print(term.checks_table(report))
    if report.errors:
        raise typer.Exit(1)


@app.command("export-finetune")
@friendly
def export_finetune(
    task: Path = flag.TaskArg,
    out_dir: Path = typer.Option(Path("finetune-data"), "--out", help="Where to write the files."),
    max_examples: int = typer.Option(None, "--max-examples", min=1, help="At most this many train rows."),
) -> None:
    """Write the training set for a hosted or GPU fine-tune: OpenAI chat JSONL and prompt/completion JSONL."""
    from rungwise.rungs.finetune import export_training_files

    paths = export_training_files(Task.load(task), out_dir, max_examples=max_examples)
    for kind, path in paths.items():
        out.print(f"{kind}: {escape(str(path))}")


@app.command("export-prompt")
@friendly
def export_prompt(
    run: str = typer.Argument(..., help="The run id (a prefix is enough)."),
    out_dir: Path = typer.Option(Path("prompts"), "--out", help="Where to write the files."),
    variant: str = typer.Option("prompt-search", "--variant", help="The searched variant whose prompt to write."),
    store: str = flag.StoreOpt,
) -> None:
    """Write the prompt the prompt search found in a run: the system prompt as text, and a JSON file with the
    instruction, its dev and eval scores and the search's cost."""
    from rungwise.record.stored import load_report
    from rungwise.report.prompt_export import export_searched_prompt

    with Store(store) as s:
        record = load_report(s, run).result
    for path in export_searched_prompt(record, variant, out_dir):
        out.print(escape(str(path)))


@app.command("compare")
@friendly
def compare_cmd(
    run_a: str = typer.Argument(..., help="The reference run id (a prefix is enough)."),
    run_b: str = typer.Argument(..., help="The run to compare with it."),
    store: str = flag.StoreOpt,
    as_json: bool = flag.json_flag("the comparison"),
    report: Path = flag.report_flag("the comparison as an HTML page"),
) -> None:
    """Paired diff of two runs, variant by variant, on the examples both scored (b minus a)."""
    with Store(store) as s:
        diffs, change = compare_runs(s, run_a, run_b), model_change(s, run_a, run_b)
        if report is not None:
            from rungwise.report.compare_html import write_compare

            console.print(f"comparison written to {escape(str(write_compare(s, run_a, run_b, report)))}")
    if as_json:
        out.print_json(strict_json({"variants": [d.to_dict() for d in diffs], "model": change.to_dict()}))
    else:
        term.print_compare(diffs, change, out)


@app.command()
@friendly
def gate(
    task: Path = flag.TaskArg,
    baseline: str = typer.Option(None, "--baseline",
                                 help="The run to hold the line against (its id or a prefix); default: the task's "
                                 "baseline (rungwise baseline set)."),
    model: str = flag.ModelOpt,
    model_name: str = flag.ModelNameOpt,
    api_key_env: str = flag.api_key(),
    margin: float = typer.Option(None, "--margin", min=0.0001, max=0.9999, envvar="RUNGWISE_GATE_MARGIN",
                                 help="Fail unless the eval rules out a drop larger than this (0.02: 2 points), on "
                                 "the paired difference's 95% interval. Default: fail on significant drops only."),
    allow_underpowered: bool = typer.Option(False, "--allow-underpowered",
                                            help="Pass a variant whose eval is too small to rule out the margin."),
    as_json: bool = flag.json_flag("the verdicts"),
    junit: Path = typer.Option(None, "--junit", help="Also write the verdicts as a JUnit XML file for CI."),
    report: Path = flag.report_flag("the new run's HTML report"),
    store: str = flag.StoreOpt,
    timeout: float = flag.TimeoutOpt,
    retries: int = flag.RetriesOpt,
    rpm: int = flag.RpmOpt,
    tpm: int = flag.TpmOpt,
    capabilities: str = flag.CapsOpt,
) -> None:
    """For CI: re-score the baseline run's rungs on its own eval rows; exit 1 on a significant regression, or, with
    --margin, unless the eval rules out a drop larger than the margin."""
    t = Task.load(task)
    m = resolve_model(model, model_name=model_name, api_key_env=api_key_env, rpm=rpm, tpm=tpm, capabilities=capabilities)
    outcome = run_gate(t, baseline, m, store_path=store, margin=margin, allow_underpowered=allow_underpowered,
                       timeout_s=timeout, retries=retries)
    if junit is not None:
        write_output(junit, outcome.junit_xml(), what="the JUnit file")
    if report is not None:
        _write_report(store, outcome.result, report)
    if as_json:
        out.print_json(strict_json(outcome.to_dict()))
    else:
        term.print_gate(outcome, out)
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
    task: Path = flag.TaskArg,
    run: str = typer.Argument(..., help="The run to promote (its id or a prefix); see: rungwise runs --task NAME."),
    store: str = flag.StoreOpt,
) -> None:
    """Promote a finished run of the task to its baseline (the gate uses it when --baseline is not given)."""
    name = Task.load(task).name
    with Store(store) as s:
        term.print_baseline_set(name, s.set_baseline(name, run), out)


@baseline_app.command("show")
@friendly
def baseline_show(task: Path = flag.TaskArg, store: str = flag.StoreOpt) -> None:
    """The task's baseline run and the ones before it."""
    name = Task.load(task).name
    with Store(store) as s:
        history = s.baselines(name)
        if not history:
            out.print(f"{escape(name)} has no baseline yet: rungwise baseline set {escape(str(task))} RUN")
            raise typer.Exit(1)
        runs = [(s.get_run(run_id), set_at) for run_id, set_at in history]
    term.print_baselines(runs, out)


@app.command()
@friendly
def runs(
    store: str = flag.StoreOpt,
    limit: int = typer.Option(20, "--limit", min=1),
    task: str = typer.Option(None, "--task", help="Only runs of this task (its name in task.toml)."),
    model: str = typer.Option(None, "--model", help="Only runs of a model whose fingerprint contains this."),
    status: str = typer.Option(None, "--status", help="Only runs with this status: running or done."),
) -> None:
    """List the runs in the store, newest first: each run's shipped variant, its score and its date."""
    with Store(store) as s:
        found = s.list_runs(limit, task=task, model=model, status=status)
    term.print_runs(found, out)


store_app = typer.Typer(no_args_is_help=True, help="Look after stores: copy one into another.")
app.add_typer(store_app, name="store")


@store_app.command("migrate")
@friendly
def store_migrate(
    src: str = typer.Argument(..., help="The store to copy from: a SQLite file (or a postgresql:// URL)."),
    dst: str = typer.Argument(..., help="The store to copy into: a postgresql:// URL (or a SQLite file)."),
) -> None:
    """Copy every run, result, cached response, artifact and report of SRC into DST (rows DST holds are kept)."""
    with Store(src) as source, Store(dst) as target:
        term.print_store_copy(copy_store(source, target), source.name, target.name, out)


def _write_report(store: str | None, result: Any, path: Path) -> None:
    """The HTML report of a run (a run id, or a result with one), or of a multi-model climb's frontier."""
    from rungwise.report.frontier_html import write_frontier
    from rungwise.report.html import write_run_report

    if isinstance(result, MultiClimbResult):
        if result.frontier is not None:
            console.print(f"report written to {escape(str(write_frontier(result, path)))}")
        return
    run_id = result if isinstance(result, str) else result.run_id
    console.print(f"report written to {escape(str(write_run_report(Store(store), run_id, path)))}")


@app.command("report")
@friendly
def report_cmd(
    run: str = typer.Argument(..., help="The run id (a prefix is enough); see: rungwise runs."),
    output: Path = typer.Option(None, "--output", "-o", help="The HTML file to write (default: rungwise-report-RUN.html)."),
    store: str = flag.StoreOpt,
) -> None:
    """Write the self-contained HTML report of a stored run (it opens offline, from disk)."""
    run_id = Store(store).get_run(run).id
    _write_report(store, run_id, output or Path(f"rungwise-report-{run_id}.html"))


@app.command()
@friendly
def show(run: str = typer.Argument(..., help="The run id (a prefix is enough)."), store: str = flag.StoreOpt) -> None:
    """Print a stored run's ladder and recommendation in the terminal, from its stored record."""
    from rungwise.record.stored import load_report

    term.print_climb(load_report(Store(store), run).result, out)


def main() -> None:  # pragma: no cover
    app()
