"""Every output another program reads is strict, and every file is whole.

`strict_json` is the JSON of every `--json`, report and record: NaN and infinities become `null` (docs/hardening.md:
a `null` number means "none": not defined for this eval, e.g. no difference is detectable with 8 rows), never the
`NaN`/`Infinity` that Python's json writes and other parsers refuse.

Every file rungwise writes for a user or another program (HTML reports, JUnit, fine-tuning exports) goes
through here: written to a temporary file beside its destination, flushed to disk, then renamed over it. A full
disk, a missing folder or a kill halfway leaves the old file (or none), never a truncated one that a CI step would
read as valid, and the failure is one `OutputError` line (exit code 3), never a traceback."""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

from rungwise.errors import OutputError


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "it is not writable"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a part of its folder is a file"
    if exc.errno == errno.EISDIR:
        return "it is a folder"
    return exc.strerror or str(exc)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_output(path: str | Path, content: str | Iterable[str], *, what: str = "the file") -> Path:
    """Write `content` (text, or an iterable of text pieces written one by one) to `path` atomically; folders are
    created. Raises OutputError naming `what`, the path and the reason."""
    path = Path(path)
    real = Path(os.path.realpath(path))  # a symlink stays a symlink: the file it points at is replaced
    pieces = [content] if isinstance(content, str) else content
    tmp: str | None = None
    try:
        if real.exists() and not real.is_file():  # /dev/stdout, a FIFO: written through, never replaced
            with open(real, "w", encoding="utf-8", newline="") as stream:
                stream.writelines(pieces)
            return path
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name[:40]}.", suffix=".tmp", dir=real.parent)
        # mkstemp makes the file private (0600); the output keeps the mode of the file it replaces, else the
        # mode a plain open() would give it
        os.chmod(tmp, real.stat().st_mode & 0o7777 if real.exists() else 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.writelines(pieces)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, real)
        tmp = None
    except OSError as exc:
        raise OutputError(f"Cannot write {what} to {path}: {_reason(exc)}. Nothing was written there; free some "
                          "space or pass another path.") from None
    finally:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)
    return path


def finite(value: Any) -> Any:
    """A JSON-safe copy: NaN and infinities become None, tuples and sets lists, numpy scalars Python numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [finite(v) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return finite(value.item())
    return str(value)


def strict_json(value: Any, **kwargs: Any) -> str:
    """`value` as strict JSON (RFC 8259): no NaN or Infinity, whatever it holds (`finite`)."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)
