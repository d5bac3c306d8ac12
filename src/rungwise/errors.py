"""Every error rungwise raises on purpose, in one tree.

    RungwiseError                 base: a message a user can act on; the CLI prints it and exits 2
    ├── TaskError                 a task folder that cannot be used
    │   ├── DataError             one bad line or field in a data file (names file, line and field)
    │   └── OptionsError          an option out of range or not one of its choices (names the option); a ValueError
    ├── ModelError                a model that cannot answer
    │   ├── ModelUnavailable      endpoint unreachable, embedded model missing, server failed to start
    │   ├── MissingApiKey         the environment variable that should hold the key is unset
    │   ├── MalformedResponse     the server's answer is not a chat completion (that row fails with kind "server")
    │   └── CapabilityMissing     the backend cannot do what a variant needs (grammar, JSON schema)
    ├── StoreError                the results store cannot be opened or is of a newer schema
    │   └── ForeignStore          the file belongs to another program: rungwise writes nothing to it
    ├── BudgetExceeded            a climb would spend more than its cost cap
    ├── ClimbCancelled            a climb was cancelled; what it finished is stored and it resumes when run again
    ├── MetricError               a metric failed on a row (names the row and the variant)
    ├── MissingExtra              an optional dependency is not installed (names the extra to install)
    └── OutputError               a file for the user or another program (report, JUnit, export) cannot be written

Exit codes of the CLI, distinct so that CI can tell them apart (docs/hardening.md):

    0    done (the gate passed, the check found no leakage)
    1    the verdict failed: `gate` found a regression or cannot rule one out, `check` found leakage
    2    an error rungwise names: a task file, an option, a model, a store (every RungwiseError not below)
    3    an output file could not be written (OutputError); nothing half-written is left behind
    130  interrupted (Ctrl-C); every finished result is stored and the same command resumes
    143  terminated (SIGTERM); the same as Ctrl-C
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_OUTPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 3, 130, 143


class RungwiseError(Exception):
    """Base of every deliberate rungwise error. `str(err)` is meant for the user."""

    exit_code = EXIT_ERROR


class TaskError(RungwiseError):
    """A task folder or task.toml that cannot be used."""


class DataError(TaskError):
    """One bad line or field in a data file."""

    def __init__(self, path: Path | str, message: str, *, line: int | None = None, field: str | None = None):
        self.path = Path(path)
        self.line = line
        self.field = field
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class OptionsError(TaskError, ValueError):
    """An option (`ClimbOptions`, a CLI flag) out of range or not one of its choices: one line naming the option
    and what it takes."""


class ModelError(RungwiseError):
    """A model that cannot answer."""


class ModelUnavailable(ModelError):
    """The endpoint cannot be reached, or the embedded model cannot be started."""


class MissingApiKey(ModelError):
    """The environment variable that should hold the API key is unset."""


class MalformedResponse(ModelError):
    """The server answered, but not with a chat completion (bad JSON, wrong shape, a body too large).

    The Runner records the row as a failure of kind "server" instead of stopping the climb."""


class CapabilityMissing(ModelError):
    """The backend lacks a capability a variant needs."""


class ContextTooLong(ModelError):
    """The server refused a request as too long for the model's context; the Runner names the variant and row."""


class StoreError(RungwiseError):
    """The results store cannot be opened or used."""


class ForeignStore(StoreError):
    """The store path holds another program's database; nothing was written to it."""


class BudgetExceeded(RungwiseError):
    """A climb would exceed its cost cap."""


class ClimbCancelled(RungwiseError):
    """A climb was cancelled (Ctrl-C, or `ClimbJob.cancel()`); what it finished is stored."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str = "The climb was cancelled. Every finished result is stored; run the same "
                 "climb again to resume where it stopped.") -> None:
        super().__init__(message)


class MetricError(RungwiseError):
    """A metric failed, hung or returned something that is not a score; names the row and the variant."""


class MissingExtra(RungwiseError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str):
        super().__init__(
            f"{package} is not installed. Install it with: pip install 'rungwise[{extra}]' -c constraints.txt"
        )


class OutputError(RungwiseError):
    """A report, JUnit file or export cannot be written (a full disk, a missing folder, no permission)."""

    exit_code = EXIT_OUTPUT
