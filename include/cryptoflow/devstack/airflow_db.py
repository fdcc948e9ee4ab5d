"""Airflow's metadata database for a local stack: create and migrate it only when needed, apply
``airflow_settings.yaml`` to it, and read the DAGs' state (parsed, paused, runs) for ``make demo``.

Whether a migration is due is decided without importing Airflow: the ``alembic_version`` row of the
database against the head revision among Airflow's migration scripts. ``airflow db migrate`` (about 11 s,
plus 6 s of imports) then runs only on a new or outdated database, so a second ``make demo`` and every
test session after the first skip it.

The functions below the line *Inside Airflow* import Airflow in this process: call them only after the
stack's environment (:func:`cryptoflow.devstack.environment.stack_env`) is in ``os.environ``;
:func:`use_stack_env` does that and refuses when Airflow was already configured for another database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptoflow.devstack.environment import Profile
from cryptoflow.devstack.postgres import Server, StackError, clone_database, ensure_database, redact

_REVISION_RE = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+)$""", re.M)


def migration_head() -> str:
    """The head revision of the installed Airflow's migration scripts (read, not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("airflow")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("Airflow is not installed in this environment; run 'make setup'.")
    versions = Path(next(iter(spec.submodule_search_locations))) / "migrations" / "versions"
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        for name, value in _REVISION_RE.findall(script.read_text()):
            ids = re.findall(r"""["']([0-9a-f]+)["']""", value)
            (revisions if name == "revision" else parents).update(ids)
    heads = revisions - parents
    if len(heads) != 1:
        raise StackError(f"cannot tell Airflow's migration head from {versions}: {sorted(heads)}")
    return heads.pop()


def current_revision(dsn: str) -> str | None:
    """The revision the metadata database at ``dsn`` is migrated to; None when it never was."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL")
            if not cur.fetchone()[0]:
                return None
            cur.execute("SELECT version_num FROM alembic_version")
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def prepare_airflow_db(profile: Profile, server: Server, env: Mapping[str, str],
                       log: Callable[[str], None] = print, *, fresh: bool = False) -> bool:
    """Create ``profile``'s metadata database and run ``airflow db migrate`` unless it is already at
    the head revision. Returns True when it migrated. ``env`` is the stack's environment.

    ``fresh=True`` (for tests) replaces the database with an empty one at head instead: a copy of a
    template database ``<metadata_db>_template`` that is itself migrated only when it is not at head.
    """
    if fresh:
        template = f"{profile.metadata_db}_template"
        template_conn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit("/", 1)[0] + f"/{template}"
        migrated = _migrate_if_needed(server, template, {**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                                                         template_conn}, profile.home, log)
        clone_database(server, template, profile.metadata_db)
        return migrated
    return _migrate_if_needed(server, profile.metadata_db, env, profile.home, log)


def _migrate_if_needed(server: Server, database: str, env: Mapping[str, str], home: Path,
                       log: Callable[[str], None]) -> bool:
    dsn = ensure_database(server, database)
    if current_revision(dsn) == migration_head():
        return False
    log_file = home / "logs" / "airflow-db-migrate.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log(f"airflow: migrating the metadata database {database} (about 20 s, once) ...")
    with log_file.open("w") as out:
        proc = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"],
                              env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").strip().splitlines()[-15:])
        raise StackError(f"'airflow db migrate' failed on {redact(server.dsn_for(database))} "
                         f"(exit {proc.returncode}; log {log_file}):\n{tail}")
    return True


# --------------------------------------------------------------------------------------------------
# Inside Airflow: everything below imports airflow in this process.
# --------------------------------------------------------------------------------------------------


def use_stack_env(env: Mapping[str, str]) -> None:
    """Put the stack's environment into ``os.environ`` before Airflow is imported here; refuse when
    this process's Airflow is already configured for another metadata database."""
    wanted = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if "airflow.settings" in sys.modules:
        from airflow import settings

        configured = str(settings.SQL_ALCHEMY_CONN or "")
        if configured != wanted:
            raise StackError(
                f"Airflow was imported in this process for {redact(configured)}, not for this stack's "
                f"{redact(wanted)}; set the stack's environment before anything imports airflow."
            )
    os.environ.update(env)
    _quiet_airflow_logs()


def _quiet_airflow_logs() -> None:
    """Only errors from Airflow's loggers in this process (the commands print their own progress)."""
    import logging

    import airflow  # noqa: F401  (configures Airflow's logging, which the line below then narrows)

    try:
        from airflow._shared.logging.structlog import PER_LOGGER_LEVELS

        PER_LOGGER_LEVELS[""] = logging.ERROR
    except (ImportError, AttributeError, TypeError):
        pass
    logging.getLogger("airflow").setLevel(logging.ERROR)


def apply_settings_file(path: Path, env: Mapping[str, str], log: Callable[[str], None] = print):
    """Load, complete (API keys, sandbox address) and apply ``airflow_settings.yaml`` to the metadata
    database of ``env``'s stack; returns the :class:`~cryptoflow.settings.ApplyReport`."""
    from cryptoflow import settings as cf_settings

    loaded = cf_settings.load_settings(path)
    use_stack_env(env)
    resolved = resolve_settings(loaded, env, log=log)
    return cf_settings.apply_settings(resolved)


def resolve_settings(loaded, env: Mapping[str, str], log: Callable[[str], None] = print):
    """``loaded`` pointed at the stack's sandbox, with API keys from the environment or, for the
    sandbox, the sandbox's own keys, and the API pools sized from ``cryptoflow.yaml``."""
    from cryptoflow import settings as cf_settings
    from cryptoflow.config import load_config

    sandbox_url = env.get("CRYPTOFLOW_SANDBOX_URL")
    sized = cf_settings.with_pools_from_config(loaded, load_config(environ={**os.environ, **env}))
    pointed = cf_settings.point_at_sandbox(sized, sandbox_url)
    resolved, notes = cf_settings.with_api_keys(pointed, {**os.environ, **env}, sandbox_url=sandbox_url,
                                                sandbox_keys=sandbox_keys())
    for note in notes:
        log(f"settings: {note}")
    return resolved


def sandbox_keys() -> dict[str, dict[str, str]]:
    """The sandbox's API keys per API and plan (``{}`` while the sandbox package does not exist)."""
    try:
        from cryptoflow.sandbox import DEFAULT_KEYS
    except ImportError:
        return {}
    return {api: dict(plans) for api, plans in DEFAULT_KEYS.items()}


@dataclass(frozen=True)
class DagInfo:
    dag_id: str
    is_paused: bool
    timetable_type: str
    periodic: bool
    asset_triggered: bool
    fileloc: str | None

    @property
    def kind(self) -> str:
        """``asset`` (runs on asset events), ``time`` (runs on a schedule) or ``manual``."""
        if self.asset_triggered:
            return "asset"
        return "time" if self.periodic else "manual"


def parse_dags(dags_folder: Path) -> tuple[set[str], dict[str, str]]:
    """The DAG ids in ``dags_folder`` and its import errors (file -> error), parsed here with a DagBag:
    what the dag-processor must have stored before the demo can go on, known without waiting for it."""
    if not dags_folder.is_dir():
        return set(), {}
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    return set(bag.dag_ids), dict(bag.import_errors)


def stored_dags(dag_ids: Iterable[str]) -> dict[str, DagInfo]:
    """The DAGs among ``dag_ids`` that the dag-processor has stored (serialized and not stale)."""
    from airflow.models.dag import DagModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    ids = list(dag_ids)
    with create_session() as session:
        serialized = set(session.scalars(select(SerializedDagModel.dag_id).where(
            SerializedDagModel.dag_id.in_(ids))))
        rows = session.scalars(select(DagModel).where(DagModel.dag_id.in_(ids), DagModel.is_stale.is_(False)))
        return {
            # Asset-triggered timetables (AssetTriggeredTimetable, PartitionedAssetTimetable) are not
            # periodic; AssetOrTimeSchedule is, and counts as time-scheduled.
            m.dag_id: DagInfo(m.dag_id, bool(m.is_paused), m.timetable_type or "", bool(m.timetable_periodic),
                              not m.timetable_periodic and "Asset" in (m.timetable_type or ""), m.fileloc)
            for m in rows if m.dag_id in serialized
        }


def stored_import_errors() -> dict[str, str]:
    """Import errors the dag-processor recorded (file -> error)."""
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return {e.filename: e.stacktrace for e in session.scalars(select(ParseImportError))}


def unpause(dag_ids: Iterable[str]) -> list[str]:
    """Unpause those of ``dag_ids`` that are paused, in the order given; returns the ones changed."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    changed = []
    for dag_id in dag_ids:
        with create_session() as session:  # one commit per DAG: the order matters to the scheduler
            model = session.scalar(select(DagModel).where(DagModel.dag_id == dag_id))
            if model is not None and model.is_paused:
                model.is_paused = False
                changed.append(dag_id)
    return changed


@dataclass(frozen=True)
class RunState:
    """What the demo needs to know about one DAG's runs."""

    dag_id: str
    succeeded: str | None  # run id of a successful run
    active: str | None  # run id of a queued or running run
    failed: str | None  # run id of the latest failed run
    task_states: dict[str, int]  # of the active (or failed) run: state -> count


def run_state(dag_id: str) -> RunState:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        runs = session.execute(
            select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc())
        ).all()
        succeeded = next((r for r, s in runs if s == "success"), None)
        active = next((r for r, s in runs if s in ("queued", "running")), None)
        failed = next((r for r, s in runs if s == "failed"), None)
        counts: dict[str, int] = {}
        shown = active or (failed if not succeeded else None)
        if shown:
            for state, n in session.execute(
                select(TaskInstance.state, func.count()).where(
                    TaskInstance.dag_id == dag_id, TaskInstance.run_id == shown
                ).group_by(TaskInstance.state)
            ):
                counts[str(state or "none")] = n
        return RunState(dag_id, succeeded, active, failed, counts)


def retry_run(dag_id: str, run_id: str) -> int:
    """Clear the failed tasks of a finished run so the scheduler runs them again, on the DAG's latest
    version (a fix to the DAG file counts); returns how many were cleared."""
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = list(session.scalars(select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
            TaskInstance.state.in_(("failed", "upstream_failed")),
        )))
        if tis:
            clear_task_instances(tis, session, run_on_latest_version=True)
        return len(tis)


@dataclass(frozen=True)
class FailedTask:
    task_id: str
    map_index: int
    try_number: int
    log_file: Path | None

    def error(self) -> str | None:
        """The exception that failed the last attempt, from its log (``Type: message``)."""
        if self.log_file is None:
            return None
        found = None
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return None
        for line in lines:
            if '"error_detail"' not in line:
                continue
            try:
                chain = json.loads(line)["error_detail"]
                detail = [d for d in chain if not d.get("is_cause")][-1]
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                continue
            found = f"{detail.get('exc_type')}: {detail.get('exc_value')}"
        return found


def failed_tasks(dag_id: str, run_id: str) -> list[FailedTask]:
    """The failed task instances of one run, each with the log file of its last attempt."""
    from airflow.configuration import conf
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    base = Path(conf.get("logging", "base_log_folder"))
    out = []
    with create_session() as session:
        for ti in session.scalars(select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
            TaskInstance.state.in_(("failed", "upstream_failed")),
        ).order_by(TaskInstance.task_id, TaskInstance.map_index)):
            if ti.state == "upstream_failed":
                continue
            folder = base / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={ti.task_id}"
            logs = sorted(folder.glob("**/attempt=*.log"), key=lambda p: p.stat().st_mtime)
            out.append(FailedTask(ti.task_id, ti.map_index, ti.try_number, logs[-1] if logs else None))
    return out


def wait(condition: Callable[[], bool], timeout: float, interval: float = 1.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
