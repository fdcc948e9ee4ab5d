"""The metadata database is migrated once and then recognised as current without importing Airflow; the
DAG parse that ``make demo`` does before starting anything reports broken files."""

from __future__ import annotations

from cryptoflow.devstack.airflow_db import current_revision, migration_head, parse_dags, prepare_airflow_db


def test_head_is_read_from_the_migration_scripts():
    from airflow.utils.db import _REVISION_HEADS_MAP

    assert migration_head() == list(_REVISION_HEADS_MAP.values())[-1]


def test_prepare_migrates_only_when_needed(metadata_dsn, profile, pg_server):
    from cryptoflow.devstack.environment import stack_env

    assert current_revision(metadata_dsn) == migration_head()
    said = []
    assert prepare_airflow_db(profile, pg_server, stack_env(profile, pg_server), log=said.append) is False
    assert said == []


def test_a_new_database_has_no_revision(pg_server):
    from cryptoflow.devstack.postgres import drop_database, ensure_database

    dsn = ensure_database(pg_server, "cryptoflow_devstack_empty")
    try:
        assert current_revision(dsn) is None
    finally:
        drop_database(pg_server, "cryptoflow_devstack_empty")


def test_parse_dags_names_dags_and_broken_files(tmp_path):
    (tmp_path / "good.py").write_text(
        "from airflow.sdk import dag\n\n@dag(schedule=None)\n"
        "def devstack_good():\n    pass\n\ndevstack_good()\n")
    (tmp_path / "broken.py").write_text("from airflow.sdk import dag\nimport no_such_module_here\n")
    ids, errors = parse_dags(tmp_path)
    assert ids == {"devstack_good"}
    assert list(errors) == [str(tmp_path / "broken.py")] or list(errors) == ["broken.py"]
    assert "no_such_module_here" in next(iter(errors.values()))
    assert parse_dags(tmp_path / "missing") == (set(), {})
