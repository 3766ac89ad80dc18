"""Start and stop a throwaway PostgreSQL cluster for tests and benchmarks.

    with Cluster.start() as pg:
        url = pg.create_database("demo")

The cluster lives in a temporary directory under /tmp, listens on a free port on
127.0.0.1 only, and is stopped and deleted by ``stop()`` (also run at exit).
Authentication: ``verbatim_admin`` is trusted; every other role must log in with
its scram-sha-256 password.  PostgreSQL refuses to run as root, so as root the
server runs as the ``postgres`` OS user (or a ``verbatim-pg`` system user that is
created on demand).  ``python tests/pgcluster.py`` runs a cluster by hand.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

try:
    import psycopg
    from psycopg import sql
except ImportError:  # reported by missing_requirements()
    psycopg = None

ADMIN = "verbatim_admin"
HOST = "127.0.0.1"
FALLBACK_USER = "verbatim-pg"

PG_HBA = f"""\
# written by tests/pgcluster.py: the admin is trusted, other roles need a password
local all {ADMIN} trust
host  all {ADMIN} {HOST}/32 trust
local all all scram-sha-256
host  all all {HOST}/32 scram-sha-256
"""


def find_bin_dir() -> Path | None:
    """Directory holding initdb and pg_ctl: newest Debian install, pg_config, or PATH."""

    def ok(d: Path) -> bool:
        return (d / "initdb").is_file() and (d / "pg_ctl").is_file()

    def version(path: str) -> tuple:
        v = Path(path).parent.name
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if ok(Path(d)):
            return Path(d)
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
            if ok(Path(out.stdout.strip())):
                return Path(out.stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            pass
    initdb = shutil.which("initdb")
    if initdb and ok(Path(initdb).parent):
        return Path(initdb).parent
    return None


def missing_requirements() -> str | None:
    """Why a cluster cannot be started here (with what to install), or None."""
    problems = []
    if find_bin_dir() is None:
        problems.append("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                        "install the Debian package 'postgresql' (e.g. apt-get install postgresql-15)")
    if psycopg is None:
        problems.append("Python package psycopg (v3) not installed: pip install 'psycopg[binary]'")
    return "; ".join(problems) or None


def _run_user() -> str | None:
    """OS user to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", FALLBACK_USER],
                   check=True, capture_output=True)
    return FALLBACK_USER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Cluster:
    """A running throwaway cluster; use ``Cluster.start()``; a context manager."""

    def __init__(self, bin_dir: Path, tmp: Path, user: str | None):
        self.bin_dir, self.tmp, self.user = bin_dir, tmp, user
        self.data, self.sockets, self.log = tmp / "data", tmp / "sockets", tmp / "server.log"
        self.host = HOST
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------

    @classmethod
    def start(cls, base_dir: Path | None = None) -> Cluster:
        """Create, configure and start a cluster in a new temp dir (under base_dir or /tmp)."""
        if (why := missing_requirements()):
            raise RuntimeError(why)
        user = _run_user()
        tmp = Path(tempfile.mkdtemp(prefix="verbatim-pg-", dir=base_dir or "/tmp"))
        tmp.chmod(0o755)
        self = cls(find_bin_dir(), tmp, user)
        atexit.register(self.stop)
        try:
            self.sockets.mkdir()
            if user:
                for p in (tmp, self.sockets):
                    shutil.chown(p, user)
            self._initdb()
            (self.data / "pg_hba.conf").write_text(PG_HBA)
            self._make_certificate()
            self._start_server()
            self._wait_connectable()
        except BaseException:
            self.stop()
            raise
        return self

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.user, "--"] if self.user else []) + list(args)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = self._cmd(*args)
        proc = subprocess.run(cmd, cwd=self.tmp, capture_output=True, text=True)
        if check and proc.returncode != 0:
            self._fail(cmd, proc.stdout + proc.stderr)
        return proc

    def _fail(self, cmd, output: str = ""):
        log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no server log)"
        raise RuntimeError(f"PostgreSQL command failed: {shlex.join(map(str, cmd))}\n"
                           f"--- output ---\n{output.strip()[-3000:]}\n--- server log tail ---\n{log}")

    def _initdb(self):
        base = [str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust",
                "-U", ADMIN, "--encoding", "UTF8"]
        if self._run(*base, "--locale", "C.UTF-8", check=False).returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            self._run(*base, "--no-locale")

    def _make_certificate(self):
        """A self-signed certificate for 127.0.0.1, so that the server speaks TLS (``ca_file``: what a client
        verifies it with, ``?sslmode=verify-full&sslrootcert=…``)."""
        key, crt = self.data / "server.key", self.data / "server.crt"
        self._run("openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", f"/CN={HOST}",
                  "-addext", f"subjectAltName=IP:{HOST}", "-keyout", str(key), "-out", str(crt))
        self.ca_file = self.tmp / "ca.crt"
        shutil.copyfile(crt, self.ca_file)
        self.ca_file.chmod(0o644)

    def _start_server(self, attempts: int = 3):
        for attempt in range(attempts):
            self.port = _free_port()
            self.log.unlink(missing_ok=True)
            opts = (f"-p {self.port} -k {shlex.quote(str(self.sockets))} -c listen_addresses={HOST} "
                    "-c fsync=off -c max_connections=100 -c ssl=on")
            proc = self._run(str(self.bin_dir / "pg_ctl"), "-w", "-t", "60", "-D", str(self.data),
                             "-l", str(self.log), "-o", opts, "start", check=False)
            if proc.returncode == 0:
                return
            busy = "could not bind" in (self.log.read_text(errors="replace") if self.log.exists() else "")
            if not busy or attempt == attempts - 1:
                self._fail(proc.args, proc.stdout + proc.stderr)

    def _wait_connectable(self, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.admin_url, connect_timeout=5).close()
                return
            except psycopg.OperationalError as e:
                if time.monotonic() > deadline:
                    self._fail(["psycopg.connect", self.admin_url], str(e))
                time.sleep(0.1)

    def stop(self):
        """Stop the server (fast shutdown) and delete the temp dir; safe to call twice."""
        atexit.unregister(self.stop)
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                          "-w", "stop", check=False)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- URLs and administration ---------------------------------------------------

    def url(self, dbname: str, user: str = ADMIN, password: str | None = None) -> str:
        """libpq URL for dbname on this cluster, as user (with password if given)."""
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password is not None else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def execute(self, query, dbname: str = "postgres"):
        """Run one statement as the admin (autocommit) in dbname."""
        with psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=10) as conn:
            conn.execute(query)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its admin URL."""
        self.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str):
        """Drop a database, terminating its open connections first."""
        self.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def create_role(self, name: str, password: str, login: bool = True):
        """Create a role that authenticates with password (scram-sha-256)."""
        self.execute(sql.SQL("CREATE ROLE {} WITH {} PASSWORD {}").format(
            sql.Identifier(name), sql.SQL("LOGIN" if login else "NOLOGIN"), sql.Literal(password)))


if __name__ == "__main__":
    started = time.monotonic()
    with Cluster.start() as cluster:
        print(f"PostgreSQL running ({time.monotonic() - started:.1f} s to start); admin URL:")
        print(cluster.admin_url, flush=True)
        try:
            input("Press Enter (or Ctrl-C) to stop... ")
        except (KeyboardInterrupt, EOFError):
            print()
    print("stopped")
