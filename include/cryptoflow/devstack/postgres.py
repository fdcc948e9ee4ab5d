"""A Postgres server for the local stack and the tests: the one named by the environment, or a
throwaway cluster under ``.local/postgres`` started with ``initdb``/``pg_ctl``.

``CRYPTOFLOW_PG_DSN`` names a server to use (an admin DSN, for example
``postgresql://postgres@127.0.0.1:5432/postgres``); it is checked and never started or stopped. Without
it, a cluster of our own is created on a free port, installing the server package with apt-get only when
no ``initdb`` can be found. ``initdb`` refuses to run as root, so as root the cluster belongs to the
``postgres`` user.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DSN_ENV = "CRYPTOFLOW_PG_DSN"


class StackError(RuntimeError):
    """A problem the user must act on; the message says what to do."""


@dataclass(frozen=True)
class Server:
    """A reachable Postgres server and how we got it."""

    admin_dsn: str
    owned: bool  # True when the cluster under .local/ is ours to stop
    data_dir: Path | None = None
    started: bool = False  # True when this call started it (so a failed start-up can stop it again)

    def dsn_for(self, database: str) -> str:
        """The DSN of ``database`` on this server (same user, host and port)."""
        parts = urlsplit(self.admin_dsn)
        return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """``preferred`` when nothing listens there, otherwise a free port the kernel picks."""
    if preferred and not port_in_use(preferred, host):
        return preferred
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def check_dsn(dsn: str, timeout: int = 5) -> str | None:
    """None when ``dsn`` accepts a connection, else the driver's reason (without any password)."""
    import psycopg2

    try:
        conn = psycopg2.connect(dsn, connect_timeout=timeout)
    except psycopg2.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    conn.close()
    return None


def redact(dsn: str) -> str:
    """``dsn`` with any password replaced by ``***``."""
    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return dsn


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, newest version first."""
    explicit = os.environ.get("CRYPTOFLOW_PG_BINDIR")
    if explicit:
        if not Path(explicit, "initdb").exists():
            raise StackError(f"CRYPTOFLOW_PG_BINDIR={explicit} holds no initdb; point it at the PostgreSQL "
                             "server's bin directory, or unset it")
        return Path(explicit)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for cand in reversed(candidates):
        if Path(cand, "initdb").exists():
            return Path(cand)
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def apt_install(package: str, label: str, instead: str) -> None:
    """Install Debian's ``package`` with apt-get (as root, or with passwordless sudo); ``instead`` says
    what the user can do when that is not possible."""
    if not shutil.which("apt-get"):
        raise StackError(f"No {label} found and apt-get is not available. {instead}")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        proc = subprocess.run(sudo + cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise StackError(f"'{' '.join(cmd)}' failed ({proc.returncode}): {proc.stderr.strip()[-400:]}\n"
                             f"{instead}")


def install_server() -> Path:
    """Install Debian's PostgreSQL server package; only called when no ``initdb`` exists."""
    print("postgres: initdb not found; installing the PostgreSQL server package with apt-get ...", flush=True)
    apt_install("postgresql", "PostgreSQL server binaries (initdb)",
                "Install the PostgreSQL server yourself, or set CRYPTOFLOW_PG_DSN to a server you have.")
    bindir = find_bindir()
    if bindir is None:
        raise StackError("apt-get installed postgresql but no initdb was found under /usr/lib/postgresql.")
    return bindir


def _as_owner(cmd: list[str], owner: str | None) -> list[str]:
    if owner is None:
        return cmd
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", owner, "--", *cmd]
    return ["su", owner, "-s", "/bin/sh", "-c", " ".join(cmd)]


def _reachable(owner: str, path: Path) -> bool:
    """Whether ``owner`` can get through to ``path``: it may enter the nearest existing directory on the
    way (which it can only if every directory above lets it through). ``path`` itself is chowned to it."""
    nearest = path.resolve()
    while not nearest.exists():
        nearest = nearest.parent
    return _may_enter(owner, nearest)


@functools.cache
def _may_enter(owner: str, directory: Path) -> bool:
    proc = subprocess.run(_as_owner(["test", "-x", str(directory)], owner), capture_output=True, check=False)
    return proc.returncode == 0


def _cluster_owner() -> str | None:
    """None when we may run initdb ourselves; ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise StackError(
            "Running as root, initdb needs the 'postgres' user, which does not exist. Install the "
            "postgresql package (it creates the user) or run as an ordinary user."
        ) from exc
    return "postgres"


@dataclass(frozen=True)
class LocalCluster:
    """A throwaway cluster under ``root`` (``.local/postgres``): data, socket, log and port files.

    As root, the cluster belongs to ``postgres``, which must reach its directory. A checkout inside a
    directory only its owner may enter (``mktemp -d`` makes one) keeps the data, socket and log in
    ``$TMPDIR/cryptoflow-pg-<hash of root>`` instead; ``root`` keeps the port file either way.
    """

    root: Path

    @property
    def home(self) -> Path:
        """Where the cluster's own files live: ``root``, unless its owner cannot reach it."""
        owner = _cluster_owner()
        if owner is None or _reachable(owner, self.root):
            return self.root
        digest = hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"cryptoflow-pg-{digest}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def port_file(self) -> Path:
        return self.root / "port"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    def port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def dsn(self, port: int) -> str:
        user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        return f"postgresql://{user}@127.0.0.1:{port}/postgres"

    def running(self) -> bool:
        bindir = find_bindir()
        if bindir is None or not self.data_dir.exists():
            return False
        owner = _cluster_owner()
        proc = subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "status"], owner),
                              capture_output=True, text=True, check=False)
        return proc.returncode == 0

    def start(self, preferred_port: int = 55432) -> Server:
        """Create (once) and start the cluster; a running one is left as it is."""
        bindir = find_bindir() or install_server()
        owner = _cluster_owner()
        self.root.mkdir(parents=True, exist_ok=True)
        if owner:
            # The cluster's owner must be able to reach and write its directory.
            shutil.chown(self.root, user=owner)
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.chown(self.home, user=owner)
        port = self.port()
        if self.running() and port:
            return Server(self.dsn(port), owned=True, data_dir=self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)
            proc = subprocess.run(
                _as_owner([str(bindir / "initdb"), "-D", str(self.data_dir), "-U", self._superuser(owner),
                           "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], owner),
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                raise StackError(f"initdb failed in {self.data_dir}: {proc.stderr.strip()[-600:]}")
        port = free_port(port or preferred_port)
        self.port_file.write_text(f"{port}\n")
        opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={self.home} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        proc = subprocess.run(
            _as_owner([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                       "-o", opts, "-w", "-t", "60", "start"], owner),
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            tail = self.log_file.read_text()[-800:] if self.log_file.exists() else proc.stderr
            self.stop()
            raise StackError(
                f"Postgres did not start on port {port} (log {self.log_file}):\n{tail.strip()}\n"
                f"Fix the cause above, or remove {self.root} to start from a fresh cluster, or set "
                f"{DSN_ENV} to a server you have."
            )
        return Server(self.dsn(port), owned=True, data_dir=self.data_dir, started=True)

    def stop(self) -> bool:
        """Stop the cluster if it runs; True when it was running."""
        bindir = find_bindir()
        if bindir is None or not self.running():
            return False
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w",
                                  "stop"], _cluster_owner()), capture_output=True, check=False)
        return True

    @staticmethod
    def _superuser(owner: str | None) -> str:
        return owner or pwd.getpwuid(os.geteuid()).pw_name


def ensure_server(local_root: Path) -> Server:
    """The server to use: ``$CRYPTOFLOW_PG_DSN`` when set (checked), else our cluster under ``local_root``."""
    dsn = os.environ.get(DSN_ENV, "").strip()
    if dsn:
        reason = check_dsn(dsn)
        if reason:
            raise StackError(
                f"{DSN_ENV}={redact(dsn)} is not reachable: {reason}\n"
                f"Start that server, fix the DSN, or unset {DSN_ENV} to use a throwaway cluster "
                "under .local/."
            )
        return Server(dsn, owned=False)
    cluster = LocalCluster(local_root)
    server = cluster.start()
    deadline = time.monotonic() + 30
    while (reason := check_dsn(server.admin_dsn, timeout=2)) is not None:
        if time.monotonic() > deadline:
            raise StackError(f"Postgres under {local_root} started but refuses connections: {reason}")
        time.sleep(0.2)
    return server


def ensure_database(server: Server, name: str, schemas: tuple[str, ...] = ()) -> str:
    """Create database ``name`` (and ``schemas`` in it) when missing; return its DSN."""
    import psycopg2

    try:
        return _ensure_database(server, name, schemas)
    except psycopg2.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise StackError(
            f"cannot create or open database {name} (schemas {', '.join(schemas) or '-'}) on "
            f"{redact(server.admin_dsn)}: {reason}\nUse a DSN whose role may create databases, or create "
            f"{name} yourself."
        ) from None


def _ensure_database(server: Server, name: str, schemas: tuple[str, ...]) -> str:
    import psycopg2
    import psycopg2.errors
    from psycopg2 import sql

    conn = psycopg2.connect(server.admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                except psycopg2.errors.DuplicateDatabase:
                    pass  # another process (a test run beside make demo) created it just now
    finally:
        conn.close()
    dsn = server.dsn_for(name)
    if schemas:
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for schema in schemas:
                    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        finally:
            conn.close()
    return dsn


def clone_database(server: Server, template: str, name: str) -> str:
    """Replace database ``name`` with a copy of ``template`` (Postgres copies the files: a migrated
    Airflow schema in well under a second, against about 17 s for ``airflow db migrate``)."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(server.admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
    finally:
        conn.close()
    return server.dsn_for(name)


def drop_database(server: Server, name: str) -> None:
    """Drop database ``name`` if it exists, closing its other sessions first."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(server.admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()
