"""The stack's environment: every Airflow setting is one Airflow 3.3 knows, the shared secrets are stable
and private, the export lines survive a real shell, and docker-compose.yml sets the same settings."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from cryptoflow.devstack.environment import Profile, demo_profile, shell_exports, stack_env
from cryptoflow.devstack.postgres import Server, StackError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.setattr(Profile, "home", property(lambda self: tmp_path / self.name))
    server = Server("postgresql://alice:s3cr%27t@db.example:5433/postgres", owned=False)
    return stack_env(Profile("demo", airflow_port=8080, sandbox_port=8765), server)


def _airflow_options() -> set[tuple[str, str]]:
    import airflow

    config = Path(airflow.__file__).parent / "config_templates" / "config.yml"
    doc = yaml.safe_load(config.read_text())
    known = {(section, option) for section, body in doc.items() for option in (body.get("options") or {})}
    # Cosmos keeps its settings in Airflow's config under [cosmos], read in cosmos.settings
    import cosmos.settings

    source = Path(cosmos.settings.__file__).read_text()
    known |= {("cosmos", option) for option in re.findall(r'conf\.get\w*\(\s*"cosmos",\s*"(\w+)"', source)}
    return known


def test_every_airflow_setting_exists_in_airflow_3(env):
    options = _airflow_options()
    settings = [k for k in env if k.startswith("AIRFLOW__")]
    assert len(settings) > 15
    unknown = []
    for key in settings:
        section, option = key.removeprefix("AIRFLOW__").lower().split("__", 1)
        if (section, option) not in options:
            unknown.append(key)
    assert unknown == []


def test_dsns_and_names(env):
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == \
        "postgresql+psycopg2://alice:s3cr%27t@db.example:5433/cryptoflow_demo_airflow"
    assert env["CRYPTOFLOW_WAREHOUSE_DSN"].endswith("@db.example:5433/cryptoflow_warehouse")
    assert env["AIRFLOW_CONN_WAREHOUSE"].startswith("postgres://alice:")
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == (
        "db.example", "5433", "alice", "cryptoflow_warehouse")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
    assert env["CRYPTOFLOW_SANDBOX_URL"] == "http://127.0.0.1:8765"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert not any("API_KEY" in k for k in env), "API keys never travel in the stack's environment"


def test_secrets_are_stable_private_and_valid(env, tmp_path):
    from cryptography.fernet import Fernet

    again = stack_env(Profile("demo", 8080, 8765), Server("postgresql://a@h:1/postgres", owned=False))
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        assert len(env[key]) >= 32
        assert again[key] == env[key]
    Fernet(env["AIRFLOW__CORE__FERNET_KEY"].encode())  # a usable key
    for path in (tmp_path / "demo" / "secrets").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_shell_exports_survive_eval(env):
    env = {**env, "CRYPTOFLOW_ODD": "it's $HOME `x` \"q\""}
    script = shell_exports(env) + '\nprintf "%s\\0" "$CRYPTOFLOW_ODD" "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                         env={"PATH": os.environ["PATH"]}).stdout
    assert out.split("\0")[:2] == [env["CRYPTOFLOW_ODD"], env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]]


def test_ports_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRYPTOFLOW_AIRFLOW_PORT", "18080")
    monkeypatch.setenv("CRYPTOFLOW_SANDBOX_PORT", "18765")
    profile = demo_profile()
    assert (profile.airflow_port, profile.sandbox_port) == (18080, 18765)
    monkeypatch.setenv("CRYPTOFLOW_AIRFLOW_PORT", "http")
    with pytest.raises(StackError, match="CRYPTOFLOW_AIRFLOW_PORT='http' is not a port number"):
        demo_profile()


def test_docker_compose_mirrors_the_stack(env):
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "sandbox", "airflow-init", "airflow-apiserver", "airflow-scheduler",
            "airflow-dag-processor", "airflow-triggerer"} <= set(services)
    airflow_env = services["airflow-scheduler"]["environment"]
    missing = [k for k in env
               if k.startswith("AIRFLOW") and k not in airflow_env and f"{k}_CMD" not in airflow_env]
    assert missing == []
    same = ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__LOAD_EXAMPLES",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",
            "AIRFLOW__CORE__AUTH_MANAGER", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
            "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP", "AIRFLOW__CORE__PARALLELISM")
    assert {k: airflow_env[k] for k in same} == {k: env[k] for k in same}
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        command = services[name]["command"]
        assert command[:2] == ["airflow", name.removeprefix("airflow-").replace("apiserver", "api-server")]
        assert services[name]["image"] == "cryptoflow:local"
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile
    for key in [k for k in airflow_env if k.endswith("_CMD")]:
        assert airflow_env[key].startswith("cat /opt/airflow/secrets/")


def test_docker_compose_celery_profile_mirrors_the_celery_stack(tmp_path, monkeypatch):
    """``docker compose --profile celery up``: a Redis and two workers with the settings stack_env gives
    a celery ``demo``; the other services carry the same settings (inert under the LocalExecutor) and
    the image's entry point switches them to the CeleryExecutor when the broker is on the network."""
    from cryptoflow.devstack.workers import worker_services

    monkeypatch.setattr(Profile, "home", property(lambda self: tmp_path / self.name))
    profile = Profile("demo", 8080, 8765, executor="celery")
    server = Server("postgresql://postgres:pw@postgres:5432/postgres", owned=False)
    env = stack_env(profile, server, broker_url="redis://redis:6379/0")
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    celery_only = {"redis", "airflow-worker-1", "airflow-worker-2"}
    assert all(services[name].get("profiles") == ["celery"] for name in celery_only)
    assert not [n for n, s in services.items() if n not in celery_only and s.get("profiles")], \
        "the LocalExecutor stack stays the default"
    broker = services["redis"]
    assert broker["image"].startswith("redis:")
    assert broker["command"][-4:] == ["--save", "", "--appendonly", "no"]
    alias = services["airflow-scheduler"]["environment"]["CRYPTOFLOW_COMPOSE_BROKER_HOST"]
    assert alias in broker["networks"]["default"]["aliases"]
    celery_keys = [k for k in env if k.startswith(("AIRFLOW__CELERY", "AIRFLOW__OPERATORS__"))]
    for number, name in enumerate(("airflow-worker-1", "airflow-worker-2"), start=1):
        worker = services[name]
        assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        missing = [k for k in env if k.startswith("AIRFLOW") and k not in worker["environment"]
                   and f"{k}_CMD" not in worker["environment"]]
        assert missing == []
        # the same command as the local stack's worker (after "python -m")
        assert worker["command"] == ["airflow", *worker_services(profile)[f"celery-worker{number}"].argv[3:]]
        assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
        assert f"demo-worker{number}@$${{HOSTNAME}}" in worker["healthcheck"]["test"][1]
    for name in ("airflow-scheduler", "airflow-apiserver", "airflow-dag-processor", "airflow-triggerer"):
        compose_env = services[name]["environment"]
        assert compose_env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        same = [k for k in celery_keys if k not in ("AIRFLOW__CELERY__BROKER_URL",
                                                    "AIRFLOW__CELERY__RESULT_BACKEND")]
        assert {k: compose_env[k] for k in same} == {k: env[k] for k in same}
        assert compose_env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
        backend = compose_env["AIRFLOW__CELERY__RESULT_BACKEND"]
        assert backend.startswith("db+postgresql+psycopg2://postgres:")
        assert backend.endswith("@postgres:5432/cryptoflow_demo_airflow")
    entrypoint = "include/cryptoflow/devstack/container-entrypoint.sh"
    assert (REPO / entrypoint).exists()
    assert f"/opt/cryptoflow/{entrypoint}" in (REPO / "Dockerfile").read_text()


def test_a_cluster_in_a_directory_postgres_cannot_enter_lives_in_tmpdir(tmp_path):
    """As root, initdb runs as ``postgres``; a checkout under a 0700 directory (``mktemp -d``) gets the
    cluster's files in $TMPDIR, and its port file stays under .local."""
    import os
    import stat

    import pytest

    from cryptoflow.devstack.postgres import LocalCluster

    if os.geteuid() != 0:
        pytest.skip("only root hands the cluster to the postgres user")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    assert stat.S_IMODE(locked.stat().st_mode) == 0o700
    cluster = LocalCluster(locked / ".local" / "postgres")
    assert cluster.home != cluster.root and cluster.home.name.startswith("cryptoflow-pg-")
    assert cluster.port_file.parent == cluster.root
    assert cluster.data_dir.parent == cluster.home
