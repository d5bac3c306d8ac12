"""The flags several commands share (`rungwise climb`, `gate`, `models`, `distill`, ...): one declaration each, so
that a flag reads and behaves the same everywhere. Each also comes from its RUNGWISE_* variable where it names one."""

from __future__ import annotations

from typing import Any

import typer

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
ModelOpt = typer.Option("local", "--model", "-m", envvar="RUNGWISE_MODEL",
                        help="'local' (the embedded model) or an OpenAI-compatible base URL ending in /v1.")
ModelNameOpt = typer.Option(None, "--model-name", envvar="RUNGWISE_MODEL_NAME", help="The model's name on the endpoint.")
ConcurrencyOpt = typer.Option(None, "--concurrency", min=1, help="Requests in flight (default: the backend's).")
TaskArg = typer.Argument(..., help="The task folder.")


def api_key(whose: str = "the endpoint's") -> Any:
    return typer.Option(None, "--api-key-env", envvar="RUNGWISE_API_KEY_ENV",
                        help=f"The environment variable that holds {whose} API key.")


def json_flag(what: str) -> Any:
    return typer.Option(False, "--json", help=f"Print {what} as JSON on stdout.")


def report_flag(what: str = "the run's HTML report") -> Any:
    return typer.Option(None, "--report", help=f"Also write {what} to this file.")
