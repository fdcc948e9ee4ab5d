"""What a history DAG's tasks do: resolve the run's ids once, then land each unit's windows, resuming
where a killed or failed try stopped. Every history dataset (:class:`cryptoflow.catalog.HistorySpec`)
runs through here: CoinGecko's hourly chart per coin, CMC's quotes and OHLCV with 100 ids a call, CMC's
global metrics and fear and greed (one series), CMC DEX pair candles (one pair a call).

- :func:`plan_history` (task ``plan``): the run's interval (a hand-triggered run: the latest complete
  ``window_days``), cut to what the connection's plan may reach back to (nothing left, or an endpoint the
  plan may not call: skipped with the plan's reason, no call); the run's ids (the top N of the latest
  landing of the spec's listing; per DEX network, ``<network>:<pair>``; a series: one unit, ``all``),
  resolved on the run's first try and stored in ``ops.history_universe`` so every later try, clear or
  reprocess of the run fetches the same ids; the ids cut into batches (one mapped task each).
- :func:`land_history_batch` (task ``land_<endpoint>``, mapped): for each unit of its batch (one id, a
  bundle of ids, or the series), the fewest windows that cover the interval
  (:meth:`~cryptoflow.catalog.HistorySpec.windows`), one call each, through the shared limiter; each
  window's landing and its ids' progress rows (``ops.history_progress``) commit together. A retry of a
  batch that did not finish skips what its progress says is landed; a batch that finished and is run
  again (a clear, ``backfill create --reprocess-behavior completed``) fetches everything again. An id
  the API no longer knows (HTTP 404: delisted) is recorded as gone and the batch goes on.

Progress (coins done of the run's total, calls spent, time left at the pace so far) is logged after every
coin and kept in ``ops.history_progress``; ``make status`` shows it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from airflow.sdk.exceptions import AirflowSkipException

from cryptoflow import windows
from cryptoflow.apis import get_api
from cryptoflow.catalog import NETWORK_SEP, SERIES, HistorySpec, history_spec
from cryptoflow.config import Config, HistoryDataset, load_config
from cryptoflow.landing import Request, land_many, request_key
from cryptoflow.warehouse import WAREHOUSE_CONN_ID, connect, migrate

log = logging.getLogger(__name__)

# Calls (of one window) per mapped task: enough paced calls per task to outweigh Airflow's own cost of
# a task (about 0.2 s of scheduling, and seconds of CPU to start its process and parse the DAG: the
# running tasks share the rate, end together and are replaced together); a retry resumes from the
# progress rows, so a larger batch costs no more to redo. More than MAX_BATCHES x this make batches
# larger instead of more tasks (bounded mapping).
BATCH_COINS = 50
MAX_BATCHES = 64


def batch_size(ids: int, per_call: int = 1) -> int:
    """Ids per mapped task for a universe of ``ids`` carried ``per_call`` a call: BATCH_COINS calls a
    window, more past MAX_BATCHES tasks; a whole number of calls, so no bundle is split."""
    calls = math.ceil(ids / per_call)  # of one window
    return max(BATCH_COINS, math.ceil(calls / MAX_BATCHES)) * per_call


def _now() -> datetime:
    """The clock a newest-first page walk counts back from (one seam for the tests)."""
    return datetime.now(UTC)


def run_interval(dataset: HistoryDataset, interval_start: datetime | None, interval_end: datetime | None,
                 run_after: datetime | None) -> tuple[datetime, datetime]:
    """The run's data interval (plain UTC datetimes: Airflow hands pendulum's, whose differences do not
    divide by a timedelta); a hand-triggered run (none) gets the latest complete window."""
    if interval_start is not None and interval_end is not None:
        return (datetime.fromtimestamp(interval_start.timestamp(), UTC),
                datetime.fromtimestamp(interval_end.timestamp(), UTC))
    return windows.manual_interval(run_after or datetime.now(UTC), timedelta(days=dataset.window_days))


def plan_history(name: str, *, interval_start: datetime | None, interval_end: datetime | None,
                 run_after: datetime | None, dag_id: str, run_id: str, config: Config | None = None
                 ) -> list[dict[str, Any]]:
    """The batches of one run (see the module's docs), each ``{"interval_start", "interval_end", "batch",
    "coins"}`` (``coins``: the batch's ids); skipped with the reason when the plan may not call the
    endpoint or reaches none of the interval, or no id is listed."""
    from cryptoflow.client import ApiHook
    from cryptoflow.plans import check_plan

    config = config or load_config()
    spec, dataset = history_spec(name), config.history_dataset(name)
    api = get_api(spec.api)
    endpoint = api.endpoint(spec.endpoint)
    start, end = run_interval(dataset, interval_start, interval_end, run_after)
    hook = ApiHook(api)
    try:
        _ = hook.session  # reads the connection's plan; no call
        plan = hook.plan.name
    finally:
        hook.close()
    check_plan(api, spec.endpoint, plan)
    depth = spec.history_limit(plan)
    reach = windows.clamp_to_history(start, end, now=datetime.now(UTC), history_days=depth)
    where = f"{api.title} {endpoint.path} [{start.isoformat()}, {end.isoformat()})"
    # CMC's plans reach further back daily than intraday: say which depth applied
    grain = ("daily " if spec.daily else "intraday ") if endpoint.daily_history_days else ""
    if reach is None:
        raise AirflowSkipException(
            f"{where}: skipped, the connection {api.conn_id} is on plan {plan}, whose {grain}history "
            f"reaches {depth} days back; this interval is older. Nothing was fetched, landed or deleted. "
            f"A plan with more history reaches it.")
    if reach != (start, end):
        log.warning("%s: plan %s reaches %s days back (%shistory); landing [%s, %s) only", where, plan,
                    depth, grain, reach[0].isoformat(), reach[1].isoformat())
    start, end = reach
    conn = connect(WAREHOUSE_CONN_ID)
    conn.autocommit = True
    try:
        migrate(conn)
        ids = _run_universe(conn, spec, dataset, config, dag_id=dag_id, run_id=run_id)
    finally:
        conn.close()
    if not ids:
        raise AirflowSkipException(f"{where}: the latest landing of {spec.ids.dataset} lists nothing; "
                                   "nothing was fetched or landed")
    size = batch_size(len(ids), spec.per_call)
    calls, credits = spec.cost(start, end, len(ids), now=datetime.now(UTC))
    rate = config.api(spec.api).calls_per_minute
    log.info("%s: %s in %d batches, %d calls, %d credits (%.1f min at %g calls/min)", where,
             "one series" if spec.series else f"{len(ids)} ids", -(-len(ids) // size), calls, credits,
             calls / rate, rate)
    return [{"interval_start": start.isoformat(), "interval_end": end.isoformat(), "batch": n,
             "coins": ids[at:at + size]} for n, at in enumerate(range(0, len(ids), size))]


def _run_universe(conn, spec: HistorySpec, dataset: HistoryDataset, config: Config, *, dag_id: str,
                  run_id: str) -> list[str]:
    """The run's ids: stored on its first try, read back on every later one."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                     (f"universe|{dag_id}|{run_id}",))
        stored = [row[0] for row in conn.execute(
            "SELECT coin_id FROM ops.history_universe WHERE dag_id = %s AND run_id = %s ORDER BY rank",
            (dag_id, run_id))]
        if stored:
            log.info("%s: the run's %d ids, as resolved on its first try", dag_id, len(stored))
            return stored
    ids = _resolve_ids(conn, spec, dataset, config, run_id=run_id)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ops.history_universe (dag_id, run_id, rank, coin_id) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING", [(dag_id, run_id, rank, i) for rank, i in enumerate(ids, 1)])
    if not spec.series:
        log.info("%s: %d ids resolved from the latest %s landing and stored with the run", dag_id,
                 len(ids), spec.ids.dataset)
    return ids


def _resolve_ids(conn, spec: HistorySpec, dataset: HistoryDataset, config: Config, *, run_id: str
                 ) -> list[str]:
    """The ids the run asks for: the series' one unit, or the top of the latest landing of the listing
    (per DEX network: ``<network>:<pair address>``)."""
    from cryptoflow.ingest import _listed_ids

    if spec.series:
        return [SERIES]
    if not spec.ids.per_network:
        return _listed_ids(conn, spec.name, spec.ids, spec.ids.match(config),
                           limit=dataset.coins(config.universe), run_id=run_id, config=config)
    pairs = dataset.top_n or config.dex.pairs_per_network
    out = []
    for slug in config.dex.networks:
        found = _listed_ids(conn, spec.name, spec.ids, {"network_slug": slug}, limit=pairs, run_id=run_id,
                            config=config)
        out.extend(f"{slug}{NETWORK_SEP}{address}" for address in found)
    return out


def land_history_batch(name: str, batch: Mapping[str, Any], *, dag_id: str, run_id: str,
                       config: Config | None = None) -> dict[str, Any]:
    """Land one batch of :func:`plan_history`: each unit's windows, resuming an unfinished try."""
    from cryptoflow.client import ApiHook, PermanentApiError

    config = config or load_config()
    spec = history_spec(name)
    api = get_api(spec.api)
    endpoint = api.endpoint(spec.endpoint)
    start = datetime.fromisoformat(batch["interval_start"])
    end = datetime.fromisoformat(batch["interval_end"])
    cuts = spec.windows(start, end)
    interval = f"[{start.isoformat()}, {end.isoformat()})"
    conn = connect(WAREHOUSE_CONN_ID)
    conn.autocommit = True
    hook = ApiHook(api, lane="history")
    calls = gone = points = 0
    try:
        migrate(conn)
        done = _resume(conn, dag_id, run_id, batch=batch["batch"], coins=batch["coins"], start=start, end=end,
                       cuts=cuts)
        total = _run_total(conn, dag_id, run_id)
        for unit in spec.units(batch["coins"]):
            todo = [w for w in cuts if any((i, w.start) not in done for i in unit)]
            if not todo:
                continue  # landed by an earlier try
            for window in todo:
                params, path_values, wanted = spec.call(unit, window, now=_now())
                try:
                    listing = hook.fetch(spec.endpoint, params, path_values=path_values, wanted=wanted,
                                         interval=interval)
                except PermanentApiError as exc:
                    if exc.status != 404 or len(unit) != 1 or spec.series:
                        raise
                    log.warning("%s %s: %s is gone (HTTP 404, delisted); its history ends here",
                                api.title, endpoint.path, unit[0])
                    _record(conn, dag_id, run_id, ids=unit, window=window, start=start, end=end,
                            status="gone", calls=1, points=0)
                    gone += 1
                    calls += 1
                    break
                sent = len(listing.pages)
                calls += sent
                count = sum(spec.count_points(orjson.loads(page.text)) for page in listing.pages)
                # the window names the request: a newest-first page walk sends offsets that move with
                # the clock, and a re-run must replace what the first one landed
                key = request_key(listing.path, listing.request_params
                                  if spec.span.style != "offset" else {"window": window.label})
                land_many(conn, raw_table=spec.raw_table, source=api.name, interval_start=start,
                          interval_end=end, run_id=run_id,
                          requests=[Request(listing.path, key, listing.pages)],
                          also=lambda cur, u=unit, w=window, n=count, c=sent: _record(
                              cur, dag_id, run_id, ids=u, window=w, start=start, end=end,  # commits with
                              status="landed", calls=c, points=n))  # the rows
                points += count
            _log_progress(conn, dag_id, run_id, total=total, windows_per_id=len(cuts),
                          per_call=spec.per_call, rate=config.api(spec.api).calls_per_minute)
        conn.execute("UPDATE ops.history_batches SET completed_at = clock_timestamp() "
                     "WHERE dag_id = %s AND run_id = %s AND batch = %s", (dag_id, run_id, batch["batch"]))
    finally:
        hook.close()
        conn.close()
    return {"raw_table": spec.raw_table, "interval_start": start.isoformat(), "interval_end": end.isoformat(),
            "batch": batch["batch"], "coins": len(batch["coins"]), "skipped_as_landed": len(done),
            "calls": calls, "points": points, "gone": gone}


def _resume(conn, dag_id: str, run_id: str, *, batch: int, coins: list[str], start: datetime,
            end: datetime, cuts: list[windows.Window]) -> set[tuple[str, datetime]]:
    """What this batch already landed (``(id, window start)``), when an earlier try stopped half-way;
    nothing when the batch had finished (this is a clear or a reprocess: everything is fetched again)."""
    with conn.transaction():
        row = conn.execute(
            "SELECT completed_at FROM ops.history_batches WHERE dag_id = %s AND run_id = %s AND batch = %s "
            "FOR UPDATE", (dag_id, run_id, batch)).fetchone()
        if row is None:
            conn.execute("INSERT INTO ops.history_batches (dag_id, run_id, batch, interval_start, "
                         "interval_end, coins) VALUES (%s, %s, %s, %s, %s, %s)",
                         (dag_id, run_id, batch, start, end, len(coins)))
        elif row[0] is not None:
            conn.execute("UPDATE ops.history_batches SET completed_at = NULL "
                         "WHERE dag_id = %s AND run_id = %s AND batch = %s", (dag_id, run_id, batch))
            conn.execute("DELETE FROM ops.history_progress WHERE dag_id = %s AND run_id = %s AND "
                         "coin_id = ANY(%s)", (dag_id, run_id, coins))
            log.info("batch %d finished before: fetching its %d ids again", batch, len(coins))
            return set()
    done = {(r[0], r[1]) for r in conn.execute(
        "SELECT coin_id, window_start FROM ops.history_progress WHERE dag_id = %s AND run_id = %s AND "
        "coin_id = ANY(%s) AND interval_start = %s AND interval_end = %s",
        (dag_id, run_id, coins, start, end))}
    gone = {r[0] for r in conn.execute(
        "SELECT coin_id FROM ops.history_progress WHERE dag_id = %s AND run_id = %s AND coin_id = ANY(%s) "
        "AND status = 'gone'", (dag_id, run_id, coins))}
    if done:
        log.info("batch %d resumes: %d id windows landed by an earlier try are not fetched again",
                 batch, len(done))
    # an id recorded gone is not asked again for any window
    return done | {(i, w.start) for i in gone for w in cuts}


def _record(conn, dag_id: str, run_id: str, *, ids: list[str], window: windows.Window, start: datetime,
            end: datetime, status: str, calls: int, points: int) -> None:
    """Progress of each id of one call (the call and its points are counted on the first)."""
    rows = [(dag_id, run_id, i, window.start, window.end, start, end, status, calls if n == 0 else 0,
             points if n == 0 else 0) for n, i in enumerate(ids)]
    statement = (
        "INSERT INTO ops.history_progress (dag_id, run_id, coin_id, window_start, window_end, "
        "interval_start, interval_end, status, calls, points) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (dag_id, run_id, coin_id, window_start) DO UPDATE SET status = EXCLUDED.status, "
        "calls = ops.history_progress.calls + EXCLUDED.calls, points = EXCLUDED.points, "
        "updated_at = clock_timestamp()")
    if hasattr(conn, "executemany"):  # the landing's cursor: commits with its rows
        conn.executemany(statement, rows)
        return
    with conn.cursor() as cur:
        cur.executemany(statement, rows)


def _run_total(conn, dag_id: str, run_id: str) -> int:
    return conn.execute("SELECT count(*) FROM ops.history_universe WHERE dag_id = %s AND run_id = %s",
                        (dag_id, run_id)).fetchone()[0]


def _log_progress(conn, dag_id: str, run_id: str, *, total: int, windows_per_id: int, per_call: int,
                  rate: float) -> None:
    """Log the run's progress, every task of it together: ids done (each window landed, or gone), calls
    spent, and the time left for the windows no task has landed yet, at the run's pace so far (its calls
    since its first batch started; the configured rate before any call)."""
    started, done, left_of_started, spent, elapsed = conn.execute(
        """SELECT count(*), count(*) FILTER (WHERE p.gone OR p.windows >= %(w)s),
                  coalesce(sum(CASE WHEN p.gone THEN 0 ELSE greatest(0, %(w)s - p.windows) END), 0)::bigint,
                  coalesce(sum(p.calls), 0)::bigint,
                  extract(epoch FROM clock_timestamp() - (
                      SELECT min(b.started_at) FROM ops.history_batches AS b
                      WHERE b.dag_id = %(dag)s AND b.run_id = %(run)s))::float8
           FROM (SELECT count(*) AS windows, bool_or(status = 'gone') AS gone, sum(calls) AS calls
                 FROM ops.history_progress WHERE dag_id = %(dag)s AND run_id = %(run)s
                 GROUP BY coin_id) AS p""",
        {"w": windows_per_id, "dag": dag_id, "run": run_id}).fetchone()
    pace = spent / elapsed * 60 if spent and elapsed else rate  # the run's calls a minute
    calls_left = -(-(left_of_started + max(0, total - started) * windows_per_id) // per_call)
    log.info("progress %s: %d of %d ids done, %d calls spent; about %.1f min left (%d calls at %.0f a "
             "minute)", run_id, done, total, spent, calls_left / max(pace, 1e-9), calls_left, pace)


def progress_rows(conn) -> list[tuple]:
    """Per history run, newest first: (dag_id, run_id, interval_start, coins, coins landed, coins gone,
    calls, last update)."""
    return conn.execute("""
        SELECT u.dag_id, u.run_id,
               (SELECT min(b.interval_start) FROM ops.history_batches b
                WHERE b.dag_id = u.dag_id AND b.run_id = u.run_id),
               count(*),
               count(*) FILTER (WHERE p.windows > 0 AND p.landed = p.windows),
               count(*) FILTER (WHERE p.gone > 0),
               coalesce(sum(p.calls), 0), max(p.updated_at)
        FROM ops.history_universe u
        LEFT JOIN LATERAL (
            SELECT count(*) FILTER (WHERE status = 'landed') AS landed, count(*) AS windows,
                   count(*) FILTER (WHERE status = 'gone') AS gone, sum(calls) AS calls,
                   max(updated_at) AS updated_at
            FROM ops.history_progress p
            WHERE p.dag_id = u.dag_id AND p.run_id = u.run_id AND p.coin_id = u.coin_id
        ) p ON true
        GROUP BY u.dag_id, u.run_id ORDER BY max(p.updated_at) DESC NULLS LAST LIMIT 20""").fetchall()
