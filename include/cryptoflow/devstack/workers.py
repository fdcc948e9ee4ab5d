"""The Celery workers of a ``celery`` stack: two background :class:`~cryptoflow.devstack.processes.Service`
processes, and whether they answer on their queue.

Worker ``N`` of profile ``P`` runs ``airflow celery worker --queues cryptoflow_P --concurrency 4
--celery-hostname P-workerN@%h --skip-serve-logs --without-mingle --without-gossip``: it consumes the
profile's queue only; it serves no task logs (the api-server reads them from the same local folder, and two
workers would otherwise fight over port 8793); and it neither synchronises with nor watches other workers at
start-up (nothing in Airflow needs it, and it saves a second per worker). Its pid file and log are
``run/celery-workerN.json`` and ``logs/celery-workerN.log`` under ``.local/<profile>``, like every other
process of the stack; the tasks' own logs are where the LocalExecutor's are.

A worker counts as healthy when its process is the one we started and it answers Celery's
``active_queues`` control request, sent through the stack's broker under the stack's key prefix, with the
profile's queue: the process runs, reached the broker, and consumes the right queue.

Before anything starts, :func:`check_celery_provider` reads (without importing Airflow) which names the
installed Celery provider imports from ``celery`` and ``kombu``, and fails with one message when the
installed Celery lacks one: celery 5.7 removed ``celery.backends.database.retry``, which
apache-airflow-providers-celery 3.26 imports, and then every component fails to start, the workers with
"Failed to import providers_configuration_loaded. This feature is only available in Airflow versions >=
2.8.0", which points nowhere near the cause.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from cryptoflow.devstack.environment import CELERY_WORKER_CONCURRENCY, CELERY_WORKERS, Profile
from cryptoflow.devstack.postgres import StackError
from cryptoflow.devstack.processes import Service

PROVIDER = "airflow.providers.celery"


def check_celery_provider() -> None:
    """Fail with one message when the Celery provider is missing or imports a name the installed Celery
    (or kombu) does not have."""
    provider_dir = provider_path()
    if provider_dir is None:
        raise StackError("the celery executor needs apache-airflow-providers-celery, which is not installed: "
                         "add it to requirements.txt and run make lock && make setup.")
    missing = missing_celery_names(provider_dir)
    if missing:
        versions = ", ".join(f"{dist} {_version(dist)}" for dist in
                             ("apache-airflow-providers-celery", "celery", "kombu"))
        raise StackError(
            f"the installed Celery cannot run the Celery provider ({versions}): the provider imports "
            f"{', '.join(missing)}, which this Celery does not have. Pin a Celery the provider was "
            "released with (celery 5.7 removed celery.backends.database.retry: pin celery==5.6.3 in "
            "requirements.txt), then make lock && make setup, or use the local executor."
        )


def provider_path() -> Path | None:
    """The Celery provider's folder, found without importing ``airflow`` (which would configure Airflow
    in this process before the stack's environment is set)."""
    spec = importlib.util.find_spec("airflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root) / PROVIDER.removeprefix("airflow.").replace(".", "/")
        if (folder / "__init__.py").exists():
            return folder
    return None


def missing_celery_names(provider_dir: Path) -> list[str]:
    """``module.name`` of every ``from celery... import name`` / ``from kombu... import name`` at the top
    level of the provider's executor and CLI modules that cannot be imported here."""
    missing = []
    for path in sorted([*provider_dir.glob("executors/*.py"), *provider_dir.glob("cli/*.py")]):
        try:
            tree = ast.parse(path.read_text())
        except (OSError, SyntaxError):
            continue
        for node in tree.body:
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            if node.module.split(".")[0] not in ("celery", "kombu"):
                continue
            try:
                module = importlib.import_module(node.module)
            except ImportError:
                missing.append(node.module)
                continue
            for alias in node.names:
                if not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        missing.append(f"{node.module}.{alias.name}")
    return sorted(set(missing))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def worker_services(profile: Profile) -> dict[str, Service]:
    """``celery-worker1`` and ``celery-worker2`` of ``profile`` (whatever its executor: ``down`` stops
    them after a switch back to ``local`` too)."""
    py = sys.executable
    out = {}
    for number in range(1, CELERY_WORKERS + 1):
        name = f"celery-worker{number}"
        out[name] = Service(name, (py, "-m", "airflow", "celery", "worker",
                                   "--queues", profile.celery_queue,
                                   "--concurrency", str(CELERY_WORKER_CONCURRENCY),
                                   "--celery-hostname", profile.worker_name(number),
                                   "--skip-serve-logs", "--without-mingle", "--without-gossip"),
                            profile.home, signature="celery")
    return out


def node_names(profile: Profile) -> dict[str, str]:
    """Service name -> the Celery node name its worker answers to (``%h`` expanded as Celery does)."""
    from celery.utils.nodenames import host_format

    return {f"celery-worker{n}": host_format(profile.worker_name(n)) for n in range(1, CELERY_WORKERS + 1)}


class WorkerProbe:
    """Asks the stack's workers, through its own broker and key prefix, which queues they consume.

    Use as a context manager; :meth:`queues` may be called repeatedly on one connection."""

    def __init__(self, env: Mapping[str, str]):
        from celery import Celery

        self.app = Celery("cryptoflow-devstack-probe", broker=env["AIRFLOW__CELERY__BROKER_URL"],
                          set_as_current=False)
        options = {}
        prefix = env.get("AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX")
        if prefix:
            options["global_keyprefix"] = prefix
        self.app.conf.update(broker_transport_options=options, broker_connection_retry_on_startup=False,
                             broker_connection_timeout=2)

    def __enter__(self) -> WorkerProbe:
        return self

    def __exit__(self, *exc) -> None:
        self.app.close()

    def queues(self, nodes: list[str], timeout: float = 1.0) -> dict[str, list[str]]:
        """Node name -> the queues it consumes, for those of ``nodes`` that answered within ``timeout``."""
        try:
            replies = self.app.control.inspect(destination=nodes, timeout=timeout).active_queues() or {}
        except Exception:  # the broker is unreachable or restarting: no worker answered
            with contextlib.suppress(Exception):
                self.app.pool.force_close_all()
            return {}
        return {node: [q.get("name", "") for q in queues or []] for node, queues in replies.items()}
