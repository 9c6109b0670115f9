"""A real PostgreSQL server for the tests: one per session, a fresh database per test.

`pg_server` (session scope) finds PostgreSQL's binaries (AZVM_TEST_PG_BINDIR, `pg_config --bindir`,
/usr/lib/postgresql/*/bin, PATH), makes a cluster with `initdb` in a temporary directory and starts
it on a Unix socket in that directory only (no TCP port), and stops it at the end of the session.
PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user (Debian's
package makes it) or else `nobody`, and the commands run as that user through `setpriv`.
`AZVM_TEST_PG_URL=postgresql://...` uses a server of your own instead (the tests create and drop
databases on it). With neither, the tests that need PostgreSQL skip and say why
(scripts/test installs Debian's `postgresql` when it can and sets AZVM_TEST_PG_MISSING when not).

A test's database is a copy of a template that already holds azvm's schema (CREATE DATABASE ...
TEMPLATE: tens of milliseconds), dropped after the test.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

TEMPLATE = "azvm_template"


def find_bindir() -> Path | None:
    """A directory holding initdb, pg_ctl and postgres, newest PostgreSQL first."""
    candidates: list[str] = []
    if os.environ.get("AZVM_TEST_PG_BINDIR"):
        candidates.append(os.environ["AZVM_TEST_PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass

    def version(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for c in candidates:
        d = Path(c)
        if all((d / tool).is_file() and os.access(d / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


class PgServer:
    """A running PostgreSQL server: `url(db)` names a database on it, `fresh_database()` makes one."""

    def __init__(self, admin_url: str, url_of: str, stop: list[str] | None = None, base: Path | None = None,
                 as_user: list[str] | None = None, start: list[str] | None = None) -> None:
        self.admin_url = admin_url  # a database to run CREATE/DROP DATABASE from
        self._url_of = url_of  # the URL of a database, with {db} for its name
        self._stop = stop
        self._start = start
        self.base = base
        self.as_user = as_user or []
        self._names = itertools.count(1)
        self._prefix = f"azvm_t{os.getpid()}_"
        self._made: dict[str, str] = {}  # url -> database name

    def url(self, db: str) -> str:
        return self._url_of.format(db=quote(db))

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def make_template(self) -> None:
        from azvm.store.postgres import PostgresStore

        self._admin(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        self._admin(f"CREATE DATABASE {TEMPLATE} TEMPLATE template0")
        PostgresStore(self.url(TEMPLATE)).close()  # azvm's schema, migrated once for every test

    def fresh_database(self, *, empty: bool = False) -> str:
        """A new database (azvm's schema already in it, or `empty`); its URL."""
        import psycopg

        name = f"{self._prefix}{next(self._names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            info = conn.info.server_version
            strategy = " STRATEGY FILE_COPY" if info >= 150000 else ""  # small templates copy fastest by file
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {'template0' if empty else TEMPLATE}{strategy}")
        url = self.url(name)
        self._made[url] = name
        return url

    def drop_database(self, url: str) -> None:
        name = self._made.pop(url)
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        if self._stop is not None:
            subprocess.run(self._stop, capture_output=True, timeout=60)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)

    def crash(self) -> None:
        """Stop the server as a crash would (`pg_ctl stop -m immediate`: every server process quits at
        once, without a checkpoint; the next start recovers from the WAL). Only a server this module
        started can be stopped and started again."""
        if self._stop is None or self._start is None:
            raise RuntimeError("not a server of the tests' own (AZVM_TEST_PG_URL): it cannot be restarted")
        subprocess.run(self._stop, capture_output=True, timeout=60, check=True)

    def start(self) -> None:
        """Start the server again after `crash()` (on the same data, socket and port)."""
        if self._start is None:
            raise RuntimeError("not a server of the tests' own (AZVM_TEST_PG_URL): it cannot be restarted")
        subprocess.run(self._start, capture_output=True, text=True, timeout=90, check=True)


def _run_as() -> tuple[list[str], int, int] | None:
    """The prefix that runs a command as an unprivileged user when this process is root."""
    if os.geteuid() != 0:
        return [], -1, -1
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return [setpriv, f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"], pw.pw_uid, pw.pw_gid
    return None


def start_server(*, listen: str | None = None, own_server: bool = False) -> PgServer:
    """Start a private server (or join AZVM_TEST_PG_URL's); pytest.skip with the reason when none can be had.

    `listen`: an IP address that the server also listens on over TCP (on a free port), and that the
    URLs name (for clients in another network namespace); by default a Unix socket only. `own_server`:
    always a private server (one that `crash()` and `start()` can restart), never AZVM_TEST_PG_URL's."""
    own = None if own_server or listen else os.environ.get("AZVM_TEST_PG_URL")
    if own:
        base_url = own.rsplit("/", 1)[0] if own.count("/") > 2 else own
        query = own.split("?", 1)[1] if "?" in own else ""
        server = PgServer(own, base_url.split("?", 1)[0] + "/{db}" + (f"?{query}" if query else ""))
        server.make_template()
        return server
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[test]')")
    missing = os.environ.get("AZVM_TEST_PG_MISSING")
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(missing or "no PostgreSQL server binaries found (initdb, pg_ctl, postgres): install Debian's"
                    " postgresql, or set AZVM_TEST_PG_BINDIR or AZVM_TEST_PG_URL")
    run_as = _run_as()
    if run_as is None:
        pytest.skip("running as root with neither setpriv nor a postgres/nobody user: PostgreSQL refuses root")
    prefix, uid, gid = run_as
    base = Path(tempfile.mkdtemp(prefix="azvm-pg-"))  # not under pytest's 0700 root-owned directories
    if uid >= 0:
        os.chown(base, uid, gid)
    data, log = base / "data", base / "server.log"
    port = 5432  # names the socket file only: the socket directory is this server's own
    if listen is not None:
        with socket.socket() as sock:  # a free TCP port
            sock.bind((listen, 0))
            port = sock.getsockname()[1]
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "azvm", "-A", "trust", "-E", "UTF8",
                        "--locale=C", "--no-sync"], capture_output=True, text=True, timeout=120, check=True)
        # fsync off: the tests need no protection from an operating system crash, and run faster
        opts = (f"-k {base} -p {port} -c listen_addresses='{listen or ''}' -c fsync=off -c full_page_writes=off"
                " -c max_connections=200 -c shared_buffers=64MB -c deadlock_timeout=100ms")
        if listen is not None:  # trust clients of that address's network too (a test's own, private network)
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {listen}/24 trust\n")
        start = [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", opts,
                 "start"]
        subprocess.run(start, capture_output=True, text=True, timeout=90, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", "") or ""
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL ({bindir}) did not start: {e}\n{detail}\n{tail}")
    url_of = f"postgresql://azvm@/{{db}}?host={quote(listen or str(base))}&port={port}"
    server = PgServer(url_of.format(db="postgres"), url_of,
                      [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], base, prefix,
                      start)
    try:
        server.make_template()
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh database with azvm's schema, for one test."""
    url = pg_server.fresh_database()
    yield url
    pg_server.drop_database(url)
