"""A throwaway PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary folder, loopback only.

PostgreSQL refuses to run as root, so under root the cluster belongs to an unprivileged user (`nobody`, or a
`rungwise-test` user made for it when there is no `nobody`) and its commands run through `runuser`. Without the
binaries (or psycopg) the tests that need it skip with the reason; under CI (`CI` set) they fail instead, so a CI
machine never passes by skipping them (.ci/run installs the `postgresql` package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

SUPERUSER = "rungwise"


def _bindir() -> Path | None:
    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parent.parent.name
        return tuple(int(x) for x in part.split(".") if x.isdigit())

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def unavailable(reason: str) -> None:
    """Skip, or under CI fail: these tests must run there."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unprivileged_user() -> str:
    for name in ("nobody", "rungwise-test"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "rungwise-test"],
                   check=True, capture_output=True)
    return "rungwise-test"


class PgServer:
    """initdb + pg_ctl start in a fresh folder; `url(db)` names a database on it; `new_database()` makes one."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            unavailable("PostgreSQL's binaries are not installed (Debian: apt-get install postgresql)")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            unavailable("psycopg is not installed (pip install 'rungwise[postgres]')")
        assert bindir is not None
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="rungwise-pg-"))  # /tmp: reachable by the unprivileged user
        self.data = self.folder / "data"
        self.port = _free_port()
        self.user = _unprivileged_user() if os.geteuid() == 0 else None
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--no-sync", "-E", "UTF8",
                  "--locale=C")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.folder} "
                   "-c fsync=off -c full_page_writes=off -c max_connections=60")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options, "-w", "-t", "60",
                  "start")

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.folder)
        if proc.returncode != 0:
            log = self.folder / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stderr[-2000:]} {tail}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
