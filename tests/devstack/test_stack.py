"""The devstack CLI on a stack of its own (profile ``devstack``, see conftest): bad input ends in one
message and leaves nothing running; ``demo`` brings up real Airflow processes, runs a producer and its
asset consumer, and prints the marts; a second ``demo`` changes nothing; ``down`` stops exactly what was
started; ``env`` gives a shell that reaches it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import psutil
import pytest

from cryptoflow.catalog import SPECS
from cryptoflow.config import DATASETS, HISTORY_DATASETS
from cryptoflow.devstack.environment import DEMO_SETTINGS
from cryptoflow.devstack.stack import DAILY_DBT_AREAS
from tests.devstack.airflow_ui import AirflowUI
from tests.devstack.conftest import CLI_PROFILE, free_port, run_cli

REPO_ROOT = Path(__file__).resolve().parents[2]


def _pid_files(local_dir: Path) -> list[Path]:
    return sorted((local_dir / CLI_PROFILE / "run").glob("*.json"))


def _one_message(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    return proc.stderr


def test_busy_port_is_one_message_and_nothing_starts(cli_env, cli_local_dir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = run_cli("up", env={**cli_env, "CRYPTOFLOW_AIRFLOW_PORT": str(port)})
    _one_message(proc, f"port {port} (Airflow API server) is in use by another process",
                 f"CRYPTOFLOW_AIRFLOW_PORT={port + 1} make demo")
    assert _pid_files(cli_local_dir) == []


def test_unreadable_settings_file_is_one_message_and_nothing_starts(cli_env, cli_local_dir, tmp_path):
    bad = tmp_path / "airflow_settings.yaml"
    bad.write_text("airflow:\n  pools:\n    - pool_name: coingecko\n      pool_slot: fifteen\n")
    proc = run_cli("up", "--file", str(bad), env=cli_env)
    _one_message(proc, str(bad), "airflow.pools[0] (pool_name 'coingecko'): pool_slot must be a whole number")
    assert _pid_files(cli_local_dir) == []
    proc = run_cli("apply-settings", "--file", str(tmp_path / "missing.yaml"), env=cli_env)
    _one_message(proc, "missing.yaml: file not found")


def test_dsn_that_points_nowhere_is_one_message(cli_env, cli_local_dir):
    nowhere = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/postgres"
    for command in (("apply-settings",), ("postgres", "start")):
        proc = run_cli(*command, env={**cli_env, "CRYPTOFLOW_PG_DSN": nowhere})
        message = _one_message(proc, "CRYPTOFLOW_PG_DSN=", "is not reachable", "unset CRYPTOFLOW_PG_DSN")
        assert "hunter2" not in message, "the password is redacted"
    assert _pid_files(cli_local_dir) == []


def test_a_postgres_that_will_not_start_is_one_message_and_stays_down(tmp_path_factory):
    import tempfile

    from cryptoflow.devstack.postgres import LocalCluster, StackError

    base = Path(tempfile.mkdtemp(prefix="cryptoflow-broken-pg-"))
    base.chmod(0o755)  # the cluster's owner (postgres, when we are root) must reach it
    try:
        cluster = LocalCluster(base / "postgres")
        (cluster.data_dir).mkdir(parents=True)
        (cluster.data_dir / "PG_VERSION").write_text("15\n")  # a data directory that is no cluster
        if os.geteuid() == 0:
            import shutil

            for path in (cluster.root, cluster.data_dir, cluster.data_dir / "PG_VERSION"):
                shutil.chown(path, user="postgres")
            cluster.data_dir.chmod(0o700)
        with pytest.raises(StackError) as err:
            cluster.start(preferred_port=free_port())
        message = str(err.value)
        assert "Postgres did not start" in message and str(cluster.log_file) in message
        assert "CRYPTOFLOW_PG_DSN" in message
        assert not cluster.running()
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def _sandbox_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("cryptoflow.sandbox.__main__") is not None
    except ImportError:
        return False


def _ours_alive(local_dir: Path) -> dict[str, int]:
    alive = {}
    for path in _pid_files(local_dir):
        record = json.loads(path.read_text())
        try:
            if abs(psutil.Process(record["pid"]).create_time() - record["create_time"]) < 0.05:
                alive[path.stem] = record["pid"]
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.skipif(not _sandbox_available(), reason="the API sandbox (cryptoflow.sandbox) cannot run yet")
def test_a_broken_dag_file_stops_the_demo_before_airflow_starts(cli_env, cli_local_dir, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "devstack_broken.py").write_text("from airflow.sdk import dag\nimport no_such_module_anywhere\n")
    proc = run_cli("demo", env={**cli_env, "CRYPTOFLOW_DAGS_FOLDER": str(dags)})
    _one_message(proc, "1 DAG file(s) in", "devstack_broken.py",
                 "No module named 'no_such_module_anywhere'")
    assert "sandbox: started" in proc.stdout
    assert "stopped what this run started: sandbox" in proc.stdout
    assert _ours_alive(cli_local_dir) == {} and _pid_files(cli_local_dir) == []


@pytest.mark.e2e
@pytest.mark.slow
# a user's whole first session on one stack (demo, catchup, Trigger, two backfills, the UI): 13 minutes
# here, more than the suite's 15 on CI's 2 cores
@pytest.mark.timeout(1800)
@pytest.mark.skipif(not _sandbox_available(), reason="the API sandbox (cryptoflow.sandbox) cannot run yet")
def test_demo_runs_the_dags_a_second_demo_changes_nothing_and_down_stops_it(cli_env, cli_local_dir,
                                                                            fresh_cli_databases, pg_server):
    """The project's own DAGs under a real scheduler: the hourly ingest runs in its pool, its Asset
    triggers dbt_marts, and the prices mart is filled from the sandbox."""
    env = {**cli_env, **HISTORY_SETTINGS}
    away_from_the_hours_edge(margin_s=420)  # the demo's own counts below are of one hour's cycle
    try:
        first = run_cli("demo", "--timeout", "240", env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        out = first.stdout
        for name in ("sandbox", "api-server", "scheduler", "dag-processor", "triggerer"):
            assert f"{name}: started" in out
        # the consumer first, then every ingest DAG (one per dataset in cryptoflow.yaml); the datasets
        # over ids and the history after the listings they read
        per_id = sorted([*(name for name in DATASETS if SPECS[name].ids is not None), *HISTORY_DATASETS])
        listings = sorted(set(DATASETS) - set(per_id))
        assert f"dags: unpaused dbt_marts, {', '.join(listings)}\n" in out, out
        assert f"dags: unpaused {', '.join(per_id)}\n" in out, out
        daily = ", ".join(f"dbt_{area}_daily" for area in sorted(DAILY_DBT_AREAS))
        assert f"dags: left paused {daily} (" in out, out  # the daily Cosmos DAGs: a task per model
        # the freshness check last, once every dataset landed: every enabled source is fresh
        assert out.index(f"dags: unpaused {', '.join(per_id)}\n") < out.index(
            "dags: unpaused dbt_source_freshness\n")
        assert "demo settings: datasets.coingecko_coins.top_n = 10 (so that the demo ends in minutes" in out
        for dag_id in (*DATASETS, *HISTORY_DATASETS, "dbt_marts", "dbt_source_freshness"):
            assert f"dags: {dag_id} succeeded" in out, dag_id
        assert f"Airflow UI   http://127.0.0.1:{cli_env['CRYPTOFLOW_AIRFLOW_PORT']}" in out
        assert "login        admin / " in out and "(see " not in out
        assert re.search(r"^  fct_price_hourly +table +[\d,]+$", out, re.M), out  # see below, with history
        # every raw table with its rows (one per page landed): 300 coins in 2 pages, 1 for the rest
        assert re.search(r"^raw tables in cryptoflow_devstack_warehouse\n  raw table ", out, re.M), out
        assert re.search(r"^  coingecko__coins_markets +table +2$", out, re.M), out
        assert re.search(r"^  coingecko__coin +table +10$", out, re.M), out  # one per coin
        assert re.search(r"^  cmc__cryptocurrency_info +table +3$", out, re.M), out  # 100 ids each
        # one per network per run: a demo that outlasts a quarter hour lands a second 15-minute interval
        quotes = re.search(r"^  cmc_dex__pairs_quotes_latest +table +(\d+)$", out, re.M)
        assert quotes and int(quotes.group(1)) in {2, 4, 6}, out
        assert re.search(r"^  cmc__cryptocurrency_listings_latest +table +1$", out, re.M), out
        pids = _ours_alive(cli_local_dir)
        assert set(pids) == {"sandbox", "api-server", "scheduler", "dag-processor", "triggerer"}

        second = run_cli("demo", "--timeout", "60", env=env)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "started" not in second.stdout.replace("stack up", "")
        assert "unpaused" not in second.stdout and "migrating" not in second.stdout
        assert "(connections 3 unchanged; pools 4 unchanged)" in second.stdout
        assert _ours_alive(cli_local_dir) == pids, "a second demo restarts nothing"

        # History catches up from its start: every run of the timetable up to the last midnight, each
        # of the demo's top coins landed once per run (the demo waited for the first run only)
        catchup = expected_catchup()
        assert await_runs(pg_server, "scheduled", len(catchup)) == catchup
        for start, end in catchup:
            assert history_raw(pg_server, start, end)[0] == HISTORY_COINS, (start, end)
        settle(pg_server, "dbt_marts")
        hours = sum((end - start) // timedelta(hours=1) for start, end in catchup)
        assert mart_rows(pg_server, catchup[0][0], catchup[-1][1]) == HISTORY_COINS * hours

        # one permit per call, and the fewest calls for the runs made: an hour (or midnight) that turns
        # while the test runs starts another cycle of the DAGs on that cadence, so calls are counted per run
        runs = quiet_live_runs(pg_server)
        status = run_cli("status", "--check", env=env)
        assert status.returncode == 0 and status.stdout.count("running") >= 6, status.stdout
        # a history call takes a permit of its API's limiter and of the history lane
        history_calls = {"coingecko": len(catchup) * HISTORY_COINS, "cmc": CMC_HISTORY_CALLS}
        for api, per_run in CALLS_PER_RUN.items():
            calls = sum(runs.get(dag_id, 0) * n for dag_id, n in per_run.items()) + history_calls[api]
            assert all(runs.get(dag_id, 0) >= 1 for dag_id in per_run), runs
            line = rf"^{api} +limiter [0-9.]+/15 per min, {calls} permits, 0 x 429 \| breaker closed"
            assert re.search(line, status.stdout, re.M), (runs, status.stdout)
            assert re.search(rf"^{api}:history +limiter [0-9.]+/12 per min, {history_calls[api]} permits, "
                             r"0 x 429", status.stdout, re.M), status.stdout

        exports = run_cli("env", env=env)
        script = (exports.stdout + "\npsql -tAc 'SELECT count(*) FROM marts.fct_price_hourly'"
                  "\npsql -d cryptoflow_devstack_airflow -tAc \"SELECT DISTINCT pool FROM task_instance "
                  "WHERE dag_id = 'coingecko_markets'\""
                  "\nairflow pools get coingecko -o plain")
        shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False,
                               env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
        # the price points of the live hours landed (one, or more where an hour turned meanwhile; dbt may
        # not have built the last yet), and every hour of the history caught up for its coins
        quiet_live_runs(pg_server)
        live = live_price_points(pg_server)
        assert live and 295 <= live[0] <= 300, live  # a drift between pages costs a coin or two, no more
        assert shell.stdout.splitlines()[1:2] == ["coingecko"], shell.stdout + shell.stderr
        assert int(shell.stdout.splitlines()[0]) in {n + HISTORY_COINS * hours for n in live}, (
            shell.stdout, live, runs)
        assert re.search(r"^coingecko\s+8\b", shell.stdout, re.M), shell.stdout + shell.stderr
        assert "API_KEY" not in exports.stdout

        # The UI's Trigger button (here its CLI twin): a run with no logical date lands the hour that
        # ends at its run time.
        def sh(script: str) -> str:
            done = subprocess.run(["bash", "-c", exports.stdout + "\n" + script], capture_output=True,
                                  text=True, check=False, env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
            return done.stdout.strip() + done.stderr.strip() * (done.returncode != 0)

        sh("airflow dags trigger coingecko_markets")
        manual = ("psql -d cryptoflow_devstack_airflow -tAc \"SELECT run_id, state, logical_date IS NULL, "
                  "extract(epoch FROM run_after) FROM dag_run WHERE dag_id = 'coingecko_markets' "
                  "AND run_type = 'manual'\"")
        deadline = time.monotonic() + 180
        while (row := sh(manual)).split("|")[1:2] not in (["success"], ["failed"]):
            assert time.monotonic() < deadline, row
            time.sleep(2)
        run_id, state, no_logical_date, run_after = row.split("|")
        assert (state, no_logical_date) == ("success", "t"), row
        landed = sh(f"psql -tAc \"SELECT DISTINCT extract(epoch FROM interval_start), extract(epoch FROM "
                    f"interval_end) FROM raw.coingecko__coins_markets WHERE run_id = '{run_id}'\"")
        start, end = (float(x) for x in landed.split("|"))
        assert (start, end) == (float(run_after) - 3600, float(run_after)), (landed, row)

        # A backfill of two days long past (make backfill: the plan, then airflow backfill create), and
        # the same range again with --reprocess-behavior completed: the same run re-run in place, its rows
        # replaced by the same values in raw and in the mart.
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        asked = (today - timedelta(days=14), today - timedelta(days=13))
        dates = [f"{d:%Y-%m-%d}" for d in asked]
        planned = run_cli("backfill", "coingecko_price_history", *dates, env=env)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert (f"backfill coingecko_price_history: 1 run(s) covering [{dates[0]}, "
                f"{today - timedelta(days=12):%Y-%m-%d}) (UTC days), {HISTORY_COINS} coins") in planned.stdout
        assert f"  calls    {HISTORY_COINS} (the fewest" in planned.stdout
        assert (f"$ airflow backfill create --dag-id coingecko_price_history --from-date {dates[0]}"
                in planned.stdout)
        interval = (asked[0], today - timedelta(days=12))
        assert await_runs(pg_server, "backfill", 1) == [interval]
        settle(pg_server, "dbt_marts")
        first_raw, first_mart = history_raw(pg_server, *interval), mart_rows(pg_server, *interval, rows=True)
        assert first_raw[0] == HISTORY_COINS and len(first_mart) == HISTORY_COINS * 48

        again = run_cli("backfill", "coingecko_price_history", *dates, "--reprocess-behavior", "completed",
                        env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        await_backfills(pg_server, 2)
        settle(pg_server, "dbt_marts")
        second_raw = history_raw(pg_server, *interval)
        assert second_raw[:2] == first_raw[:2]  # the same rows: count and bodies (sha256)
        assert not set(second_raw[2]) & set(first_raw[2])  # ... landed again: every row replaced
        assert mart_rows(pg_server, *interval, rows=True) == first_mart

        # The same in the UI, as a user does it (headless Chromium; screenshots under .local/screenshots):
        # log in with the password the demo printed, switch the history DAG off and on - its catchup is
        # complete, so that makes no run - and backfill one more past day with the Trigger button's form.
        password = re.search(r"^login +admin / (\S+)$", out, re.M).group(1)
        shots = REPO_ROOT / ".local" / "screenshots" / "demo"
        shutil.rmtree(shots, ignore_errors=True)
        day = today - timedelta(days=20)
        with AirflowUI(f"http://127.0.0.1:{cli_env['CRYPTOFLOW_AIRFLOW_PORT']}", "admin", password,
                       shots) as ui:
            ui.set_paused(HISTORY_DAG, True)
            assert ui.is_paused(HISTORY_DAG)
            ui.set_paused(HISTORY_DAG, False)
            # the runs list shows the catchup's runs, every one succeeded, and no other scheduled run
            listed = ui.wait_for_runs(HISTORY_DAG, len(catchup), run_type="scheduled")
            assert len(listed) == len(catchup), listed
            made = ui.backfill(HISTORY_DAG, day, day)
            assert (made.from_date, made.to_date) == (f"{day:%Y-%m-%d}T00:00:00Z",) * 2, made
            assert re.match(r"1 run will be triggered", made.announced), made  # the form's dry run
            shown = [(b.from_date, b.to_date, b.reprocess) for b in ui.wait_for_backfills(HISTORY_DAG)]
            assert shown.count((f"{day:%Y-%m-%d} 00:00:00",) * 2 + ("Missing Runs",)) == 1, shown
        assert await_runs(pg_server, "scheduled", len(catchup)) == catchup  # toggling made no run
        assert await_runs(pg_server, "backfill", 2) == [(day, day + timedelta(days=1)), interval]
        settle(pg_server, "dbt_marts")
        assert history_raw(pg_server, day, day + timedelta(days=1))[0] == HISTORY_COINS
        assert mart_rows(pg_server, day, day + timedelta(days=1)) == HISTORY_COINS * 24
        assert sorted(p.name for p in shots.glob("*.png"))  # the screenshots are there to look at
    finally:
        down = run_cli("down", env=env)
    assert down.returncode == 0, down.stderr
    assert "stopped: triggerer, dag-processor, scheduler, sandbox, api-server" in down.stdout
    assert _ours_alive(cli_local_dir) == {}
    assert all(not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
               for pid in pids.values())
    assert run_cli("status", "--check", env=env).returncode == 3


def away_from_the_hours_edge(margin_s: float = 90) -> None:
    """Wait past the hour when it is about to turn: a scheduler that starts in an hour's last seconds
    creates the hourly DAGs' run for the hour before and, moments later, the one for the hour that just
    ended (two landings each, rightly), and the counts below assume one."""
    now = datetime.now(UTC)
    left = 3600 - (now.minute * 60 + now.second)
    if left < margin_s:
        time.sleep(left + 5)


HISTORY_COINS = 4
# the price history of the demo's stack here: 3-day windows from 7 days back (the catchup's last run is
# one day, its call widened to two), the top 4 coins
# the CMC and DEX history DAGs as the demo runs them: 7 days, one run each
HISTORY_SETTINGS = {**{name: value for name, value in DEMO_SETTINGS.items() if "__HISTORY__CMC_" in name},
                    "CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__WINDOW_DAYS": "3",
                    "CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__START_DAYS_AGO": "7",
                    "CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__TOP_N": str(HISTORY_COINS)}
HISTORY_DAG = "coingecko_price_history"


def expected_catchup() -> list[tuple[datetime, datetime]]:
    """The runs catchup makes, worked out from the settings (not from the timetable's code)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=7)
    out = []
    while start < today:
        out.append((start, min(start + timedelta(days=3), today)))
        start = out[-1][1]
    return out


# The fewest calls one run of each live DAG makes with the demo's settings: coins_markets 2 pages of 250,
# one page each for global, trending, exchanges and the coins list, /coins/{id} for the top 10; CMC
# listings, map, info for 300 ids in 3 calls of 100, fear and greed, global metrics, and the exchange
# listings skipped on Basic (no call)
# the CMC history DAGs' one run each (DEMO_SETTINGS: 7 days): prices, the top 10 coins in one call of up
# to 100; global metrics, one call of up to 10,000 hours; fear and greed, one page of up to 500 days
CMC_HISTORY_CALLS = 1 + 1 + 1
CALLS_PER_RUN = {
    "coingecko": {"coingecko_markets": 2, "coingecko_global": 1, "coingecko_trending": 1,
                  "coingecko_exchanges": 1, "coingecko_coins_list": 1, "coingecko_coins": 10},
    "cmc": {"cmc_listings": 1, "cmc_map": 1, "cmc_info": 3, "cmc_fear_and_greed": 1,
            "cmc_global_metrics": 1, "cmc_exchange_listings": 0},
}


def quiet_live_runs(pg_server, quiet_s: float = 10, timeout: float = 300) -> dict[str, int]:
    """Once no live DAG has a queued or running run for ``quiet_s``: the scheduled runs each succeeded."""
    dag_ids = [d for per_run in CALLS_PER_RUN.values() for d in per_run]
    deadline, quiet = time.monotonic() + timeout, time.monotonic()
    while True:
        rows = _rows(pg_server, "airflow", "SELECT dag_id, state, count(*) FROM dag_run "
                     "WHERE dag_id = ANY(%s) AND run_type = 'scheduled' GROUP BY 1, 2", (dag_ids,))
        assert not [r for r in rows if r[1] == "failed"], rows
        if any(state in ("queued", "running") for _, state, _ in rows):
            quiet = time.monotonic()
        elif time.monotonic() - quiet >= quiet_s:
            return {dag_id: n for dag_id, state, n in rows if state == "success"}
        assert time.monotonic() < deadline, rows
        time.sleep(1)


def live_price_points(pg_server) -> list[int]:
    """For each landing of the live ``/coins/markets`` (in interval order): the (coin, hour) price points
    it and the landings before it hold, counted from their raw bodies. A run's 300 coins come in 2 pages;
    when the API's snapshot turns between the two calls, a coin can sit on both pages and another on
    neither (the sandbox does this as CoinGecko's 45 s cache does), and a coin without a price is no
    price point, so a run holds up to 300."""
    rows = _rows(pg_server, "warehouse", """
        SELECT r.interval_start, e->>'id', date_trunc('hour', (e->>'last_updated')::timestamptz)
        FROM raw.coingecko__coins_markets AS r, jsonb_array_elements(r.body::jsonb) AS e
        WHERE e->>'current_price' IS NOT NULL ORDER BY 1""")
    points: set[tuple[str, datetime]] = set()
    out: list[int] = []
    for _, landing in groupby(rows, key=itemgetter(0)):
        points.update((coin, hour) for _, coin, hour in landing)
        out.append(len(points))
    return out


def _rows(pg_server, db: str, query: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(pg_server.dsn_for(f"cryptoflow_{CLI_PROFILE}_{db}"), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def await_runs(pg_server, run_type: str, count: int, timeout: float = 300) -> list[tuple[datetime, datetime]]:
    """The intervals of the history DAG's ``run_type`` runs once ``count`` of them have succeeded."""
    deadline = time.monotonic() + timeout
    while True:
        runs = _rows(pg_server, "airflow", "SELECT data_interval_start, data_interval_end, state "
                     "FROM dag_run WHERE dag_id = %s AND run_type = %s ORDER BY data_interval_start",
                     (HISTORY_DAG, run_type))
        assert not [r for r in runs if r[2] == "failed"], runs
        if len(runs) >= count and all(r[2] == "success" for r in runs):
            return [(a, b) for a, b, _ in runs]
        assert time.monotonic() < deadline, runs
        time.sleep(2)


def await_backfills(pg_server, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done = _rows(pg_server, "airflow", "SELECT count(*) FROM backfill WHERE dag_id = %s "
                     "AND completed_at IS NOT NULL", (HISTORY_DAG,))[0][0]
        if done >= count:
            await_runs(pg_server, "backfill", 1)
            return
        assert time.monotonic() < deadline, done
        time.sleep(2)


def settle(pg_server, dag_id: str, quiet_s: float = 15, timeout: float = 300) -> None:
    """Until ``dag_id`` has had no queued or running run for ``quiet_s`` (asset-triggered runs follow)."""
    deadline, quiet = time.monotonic() + timeout, time.monotonic()
    while time.monotonic() - quiet < quiet_s:
        active = _rows(pg_server, "airflow", "SELECT count(*) FROM dag_run WHERE dag_id = %s AND state IN "
                       "('queued', 'running')", (dag_id,))[0][0]
        if active:
            quiet = time.monotonic()
        assert time.monotonic() < deadline, f"{dag_id} still running"
        time.sleep(1)


def history_raw(pg_server, start: datetime, end: datetime) -> tuple[int, list[str], list[int]]:
    """(rows, their bodies' sha256 sorted, their landing ids) of the history landed for an interval."""
    rows = _rows(pg_server, "warehouse", "SELECT body_sha256, landing_id FROM "
                 "raw.coingecko__coins_market_chart_range WHERE interval_start = %s AND interval_end = %s "
                 "ORDER BY endpoint", (start, end))
    return len(rows), sorted(r[0] for r in rows), [r[1] for r in rows]


def mart_rows(pg_server, start: datetime, end: datetime, *, rows: bool = False):
    query = ("SELECT asset_id, price_hour, price_usd, market_cap_usd, volume_24h_usd "
             "FROM marts.fct_price_hourly WHERE price_hour >= %s AND price_hour < %s ORDER BY 1, 2")
    found = _rows(pg_server, "warehouse", query, (start, end))
    return found if rows else len(found)


def test_env_starts_nothing(cli_env, cli_local_dir):
    proc = run_cli("env", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith('case ":$PATH:" in')  # the venv's bin first on PATH, for airflow and dbt
    assert all(line.startswith("export ") for line in lines[:-1])
    exported = dict(line.removeprefix("export ").split("=", 1) for line in lines[:-1])
    assert exported["AIRFLOW_HOME"] == f"'{cli_local_dir / CLI_PROFILE / 'airflow'}'"
    assert exported["CRYPTOFLOW_SANDBOX_URL"] == f"'http://127.0.0.1:{cli_env['CRYPTOFLOW_SANDBOX_PORT']}'"
    assert _pid_files(cli_local_dir) == []


def _celery_runs_here() -> bool:
    from cryptoflow.devstack.workers import missing_celery_names, provider_path

    provider = provider_path()
    return provider is not None and not missing_celery_names(provider)


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(not _sandbox_available(), reason="the API sandbox (cryptoflow.sandbox) cannot run yet")
@pytest.mark.skipif(not _celery_runs_here(), reason="the installed Celery cannot run the Celery provider "
                    "(test_celery.py::test_the_installed_celery_runs_the_installed_celery_provider says why)")
def test_celery_demo_runs_the_dags_on_two_workers_and_down_stops_everything(
        celery_cli_env, cli_local_dir, fresh_cli_databases, pg_server):
    """``demo`` with the CeleryExecutor on the devstack profile: a throwaway Redis of its own, two workers
    on the profile's queue, every task instance run through Celery; a second demo changes nothing;
    ``down`` stops the workers, the rest, and the Redis it started."""
    import psycopg2

    from cryptoflow.devstack.redis import ping

    env = celery_cli_env
    redis_dir = cli_local_dir / "redis"
    components = {"sandbox", "api-server", "scheduler", "dag-processor", "triggerer",
                  "celery-worker1", "celery-worker2"}
    pids: dict[str, int] = {}
    try:
        first = run_cli("demo", "--timeout", "300", env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        out = first.stdout
        started = re.search(r"^redis: started a throwaway redis-server on (redis://127\.0\.0\.1:\d+/0)",
                            out, re.M)
        assert started, out
        broker = started.group(1)
        for name in components:
            assert f"{name}: started" in out
        assert out.index("scheduler: started") < out.index("celery-worker1: started")
        assert "coingecko_markets succeeded" in out and "dbt_marts succeeded" in out
        assert re.search(r"^  fct_price_hourly +table +[\d,]+$", out, re.M), out  # live 300 + the history
        pids = _ours_alive(cli_local_dir)
        assert set(pids) == components

        # Every task instance went through Celery: the profile's queue, a result in Celery's backend
        # (the metadata database), and a worker that logged it. (The task's state reaches Airflow before
        # its Celery task returns: the last result and log line may come a moment after the demo ends.)
        # A task skipped by the scheduler (its upstream skipped: the OHLCV history's landing after its
        # plan skipped on Basic) is never queued, so it has no Celery result.
        def through_celery() -> tuple[list, int, list[int]]:
            conn = psycopg2.connect(pg_server.dsn_for(f"cryptoflow_{CLI_PROFILE}_airflow"))
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT dag_id, task_id, state, queue, queued_dttm IS NOT NULL "
                                "FROM task_instance ORDER BY 1, 2")
                    tis = cur.fetchall()
                    cur.execute("SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'")
                    results = cur.fetchone()[0]
            finally:
                conn.close()
            logs = [(cli_local_dir / CLI_PROFILE / "logs" / f"celery-worker{n}.log").read_text()
                    for n in (1, 2)]
            return tis, results, [len(re.findall(r"Task execute_workload\[[0-9a-f-]+\] succeeded", log))
                                  for log in logs]

        deadline = time.monotonic() + 30
        while True:
            tis, results, done = through_celery()
            ran = sum(1 for *_, queued in tis if queued)
            if (results >= ran and sum(done) >= ran) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert {dag for dag, *_ in tis} == {*DATASETS, *HISTORY_DATASETS, "dbt_marts", "dbt_source_freshness"}
        assert {queue for *_, queue, _ in tis} == {f"cryptoflow_{CLI_PROFILE}"}
        # every task succeeded, but the plan-gated ones, which skip on the sandbox's Basic CMC key
        assert {(dag, state) for dag, _, state, *_ in tis if state != "success"} == {
            ("cmc_exchange_listings", "skipped"), ("cmc_ohlcv_history", "skipped")}
        # only the OHLCV history's landing was never queued (the scheduler skipped it after its plan)
        assert [(dag, task) for dag, task, *_, queued in tis if not queued] == [
            ("cmc_ohlcv_history", "land_cryptocurrency_ohlcv_historical")]
        assert results >= ran and sum(done) >= ran, (results, done, ran)
        for n in (1, 2):
            log = (cli_local_dir / CLI_PROFILE / "logs" / f"celery-worker{n}.log").read_text()
            assert f"{CLI_PROFILE}-worker{n}@" in log and " ready." in log

        second = run_cli("demo", "--timeout", "60", env=env)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "started" not in second.stdout.replace("stack up", "")
        assert f"redis: using {broker} (throwaway redis-server under .local/redis)" in second.stdout
        assert _ours_alive(cli_local_dir) == pids, "a second demo restarts nothing"

        # status and env follow the executor the stack came up with, without being told
        plain = {k: v for k, v in env.items() if k != "CRYPTOFLOW_EXECUTOR"}
        status = run_cli("status", "--check", env=plain)
        assert status.returncode == 0, status.stdout + status.stderr
        assert re.search(rf"^redis +running +{re.escape(broker)} \(throwaway redis-server under "
                         r"\.local/redis\), started by make demo$", status.stdout, re.M), status.stdout
        for n in (1, 2):
            assert re.search(rf"^celery-worker{n} running \(pid \d+\) +{CLI_PROFILE}-worker{n}@\S+ on queue "
                             rf"cryptoflow_{CLI_PROFILE} ", status.stdout, re.M), status.stdout
        exports = run_cli("env", env=plain).stdout
        assert "export AIRFLOW__CORE__EXECUTOR='CeleryExecutor'" in exports
        assert f"export AIRFLOW__CELERY__BROKER_URL='{broker}'" in exports
    finally:
        down = run_cli("down", env=env)
    assert down.returncode == 0, down.stderr
    assert ("stopped: celery-worker1, celery-worker2, triggerer, dag-processor, scheduler, sandbox, "
            "api-server") in down.stdout
    assert "redis: stopped the redis-server under" in down.stdout
    assert _ours_alive(cli_local_dir) == {}
    assert all(not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
               for pid in pids.values())
    assert ping(broker, timeout=0.5) is not None
    assert not (redis_dir / "run" / "redis-server.json").exists()
    assert run_cli("status", "--check", env=env).returncode == 3
