"""What an ingest task does, for any API and endpoint: fetch every page of one request for one data
interval through :class:`~cryptoflow.client.ApiHook` (every call through the shared controls of
:mod:`cryptoflow.limits`), then land them with :mod:`cryptoflow.landing`.

DAG files call these functions inside their tasks (heavy imports stay out of DAG parsing). The return
value is a small summary for XCom: counts and keys, never bodies or credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from cryptoflow import catalog
from cryptoflow.apis import get_api
from cryptoflow.apis.base import Paginator
from cryptoflow.config import Config, load_config
from cryptoflow.landing import Request, land_many, request_key
from cryptoflow.plans import check_plan
from cryptoflow.warehouse import WAREHOUSE_CONN_ID, connect, migrate

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from cryptoflow.client import RetryPolicy


def paging_params(paginator: Paginator) -> tuple[str, ...]:
    """The parameters a paginator owns; they are not part of a request's identity."""
    names = ("page_param", "size_param", "start_param", "limit_param", "cursor_param")
    return tuple(getattr(paginator, name) for name in names if hasattr(paginator, name))


def land_request(
    api_name: str,
    endpoint_name: str,
    *,
    interval_start: datetime,
    interval_end: datetime,
    run_id: str,
    params: Mapping[str, Any] | None = None,
    path_values: Mapping[str, Any] | None = None,
    wanted: int | None = None,
    conn_id: str | None = None,
    warehouse_conn_id: str = WAREHOUSE_CONN_ID,
    retry: RetryPolicy | None = None,
) -> dict[str, Any]:
    """Fetch one request (all its pages) for one interval and replace its raw rows; return a summary.

    A connection whose plan may not call the endpoint ends the task skipped before any call
    (:class:`cryptoflow.plans.EndpointNotOnPlan`)."""
    out = land_requests(api_name, endpoint_name, interval_start=interval_start, interval_end=interval_end,
                        run_id=run_id, calls=[{"params": params, "path_values": path_values}], wanted=wanted,
                        conn_id=conn_id, warehouse_conn_id=warehouse_conn_id, retry=retry)
    return {**out["landed"][0], "calls": out["calls"]}


def land_requests(
    api_name: str,
    endpoint_name: str,
    *,
    interval_start: datetime,
    interval_end: datetime,
    run_id: str,
    calls: Sequence[Mapping[str, Any]],
    wanted: int | None = None,
    missing_ok: bool = False,
    conn_id: str | None = None,
    warehouse_conn_id: str = WAREHOUSE_CONN_ID,
    retry: RetryPolicy | None = None,
) -> dict[str, Any]:
    """Fetch several requests of one endpoint (each ``{"params": ..., "path_values": ...}``, all pages)
    for one interval, then replace their raw rows in one transaction: every request lands or none does.

    ``missing_ok``: an id the API no longer knows (HTTP 404, a coin delisted since its listing landed)
    is left out and named in the summary's ``missing`` instead of failing the batch."""
    from cryptoflow.client import ApiHook, PermanentApiError
    from cryptoflow.limits import BreakerOpen

    api = get_api(api_name)
    endpoint = api.endpoint(endpoint_name)
    interval = f"[{interval_start.isoformat()}, {interval_end.isoformat()})"
    hook = ApiHook(api, conn_id, retry=retry)
    fetched, missing = [], []
    try:
        _ = hook.session  # reads the connection (no call): its plan may not be allowed this endpoint
        check_plan(api, endpoint_name, hook.plan.name)
        for call in calls:
            try:
                listing = hook.fetch(endpoint_name, call.get("params"), path_values=call.get("path_values"),
                                     wanted=wanted, interval=interval)
            except BreakerOpen as exc:
                if _is_retry():  # this interval's own calls failed and opened it: the run must fail
                    raise BreakerOpenOnRetry(f"{exc}. An earlier try of this task failed; it fails too, so "
                                             "the interval shows as failed (clear it once the API is back)"
                                             ) from None
                raise
            except PermanentApiError as exc:
                if not (missing_ok and exc.status == 404):
                    raise
                missing.append(endpoint.render_path(**(call.get("path_values") or {})))
                log.warning("%s: %s is gone (HTTP 404), left out of this landing", api.title, missing[-1])
                continue
            key = request_key(listing.path, listing.request_params, paging_params(endpoint.paginator))
            fetched.append(Request(listing.path, key, listing.pages))
    finally:
        hook.close()
    landed = []
    if fetched:
        conn = connect(warehouse_conn_id)
        try:
            migrate(conn)
            landed = land_many(conn, raw_table=api.raw_table(endpoint_name), source=api.name,
                               interval_start=interval_start, interval_end=interval_end, run_id=run_id,
                               requests=fetched)
        finally:
            conn.close()
    elif not missing_ok or not missing:
        raise ValueError(f"{api.title} {endpoint.path} {interval}: no requests to land")
    summary = {"raw_table": api.raw_table(endpoint_name), "interval_start": interval_start.isoformat(),
               "interval_end": interval_end.isoformat(), "requests": len(landed),
               "pages": sum(x.pages for x in landed), "records": sum(x.records for x in landed),
               "bytes": sum(x.bytes for x in landed), "calls": hook.calls,
               "landed": [x.as_dict() for x in landed]}
    if missing:
        summary["missing"] = missing
    return summary


class BreakerOpenOnRetry(AirflowFailException):
    """The breaker is open and this is a retry of a try that failed: fail (no more retries), not skip."""


def _is_retry() -> bool:
    """Whether the running task instance is past its first try (outside a task: no)."""
    try:
        from airflow.sdk import get_current_context

        return int(get_current_context()["ti"].try_number) > 1
    except Exception:
        return False


def land_snapshot(
    api_name: str,
    endpoint_name: str,
    *,
    interval_start: datetime | None,
    interval_end: datetime | None,
    run_after: datetime | None,
    run_id: str,
    cadence: timedelta,
    history: str,
    **request: Any,
) -> dict[str, Any]:
    """:func:`land_request` for an endpoint that answers only for now, under the interval
    :func:`cryptoflow.snapshots.snapshot_interval` allows: a past interval is skipped with the reason,
    a hand-triggered run (no data interval) lands the interval that ends at its run time."""
    start, end = _snapshot_interval(api_name, endpoint_name, interval_start, interval_end,
                                    run_after=run_after, cadence=cadence, history=history)
    return land_request(api_name, endpoint_name, interval_start=start, interval_end=end, run_id=run_id,
                        **request)


def _snapshot_interval(api_name: str, endpoint_name: str, interval_start: datetime | None,
                       interval_end: datetime | None, *, run_after: datetime | None, cadence: timedelta,
                       history: str) -> tuple[datetime, datetime]:
    from cryptoflow.snapshots import snapshot_interval

    api = get_api(api_name)
    what = f"{api.title} {api.endpoint(endpoint_name).path}"
    return snapshot_interval(interval_start, interval_end, run_after=run_after, now=datetime.now(UTC),
                             cadence=cadence, what=what, history=history)


# --------------------------------------------------------------------------------------------------
# Datasets (cryptoflow.catalog): what a dataset's DAG tasks call.
# --------------------------------------------------------------------------------------------------

def land_dataset(name: str, *, interval_start: datetime | None, interval_end: datetime | None,
                 run_after: datetime | None, run_id: str, config: Config | None = None) -> dict[str, Any]:
    """One cycle of a dataset whose requests need no ids (one request, or one per DEX network): every
    request, all pages, landed in one transaction under the run's snapshot interval."""
    config = config or load_config()
    dataset, spec = config.dataset(name), catalog.spec(name)
    start, end = _snapshot_interval(spec.api, spec.endpoint, interval_start, interval_end,
                                    run_after=run_after, cadence=dataset.cadence, history=spec.history)
    calls = catalog.requests_for(spec, config, dataset.cadence)
    return land_requests(spec.api, spec.endpoint, interval_start=start, interval_end=end, run_id=run_id,
                         calls=[c.as_dict() for c in calls], wanted=spec.wanted_for(config))


def plan_batches(name: str, *, interval_start: datetime | None, interval_end: datetime | None,
                 run_after: datetime | None, run_id: str, config: Config | None = None
                 ) -> list[dict[str, Any]]:
    """The batches of one cycle of a per-id dataset, each ``{"interval_start", "interval_end", "calls"}``
    (one mapped landing task each): the ids of the latest landing of its listing (landed first when it
    never was), bundled as the endpoint allows. A past interval is skipped before anything is read."""
    from cryptoflow.selections import groups_of

    config = config or load_config()
    dataset, spec = config.dataset(name), catalog.spec(name)
    start, end = _snapshot_interval(spec.api, spec.endpoint, interval_start, interval_end,
                                    run_after=run_after, cadence=dataset.cadence, history=spec.history)
    listing = spec.ids
    ids: dict[str | None, list[str]] = {}
    conn = connect(WAREHOUSE_CONN_ID)
    conn.autocommit = True  # each read sees what landed before it; the lock below is the session's
    try:
        migrate(conn)
        for group, group_match in groups_of(listing, config.dex.networks):
            match = {**listing.match(config), **group_match}
            found = _listed_ids(conn, name, listing, match, limit=spec.id_count(config), run_id=run_id,
                                config=config)
            log.info("%s: %d ids from the latest %s%s", name, len(found), listing.dataset,
                     f" ({group})" if group else "")
            ids[group] = found
    finally:
        conn.close()
    calls = [c.as_dict() for c in catalog.requests_for(spec, config, dataset.cadence, ids)]
    if not calls:
        from airflow.sdk.exceptions import AirflowSkipException

        groups = ", ".join(str(group) for group in ids if group)
        raise AirflowSkipException(f"{name}: the latest landing of {listing.dataset} lists no ids"
                                   f"{' for ' + groups if groups else ''}; nothing was fetched or landed")
    return [{"interval_start": start.isoformat(), "interval_end": end.isoformat(),
             "calls": calls[at:at + catalog.BATCH_CALLS]} for at in range(0, len(calls), catalog.BATCH_CALLS)]


def _listed_ids(conn, name: str, listing: catalog.FromListing, match: Mapping[str, Any], *, limit: int,
                run_id: str, config: Config) -> list[str]:
    """The ids of the latest landing of ``listing``; when it never landed, land it first (one per-id
    DAG does; another that waits on the lock meanwhile then reads what it landed)."""
    from cryptoflow.selections import latest_ids

    found = latest_ids(conn, listing, match=match, limit=limit)
    if found is not None:
        return found
    lock = f"listing|{listing.dataset}"
    conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (lock,))
    try:
        found = latest_ids(conn, listing, match=match, limit=limit)
        if found is None:
            log.info("%s: no landing of %s yet for %s; landing it first", name, listing.dataset, match)
            land_current(listing.dataset, run_id=run_id, config=config)
            found = latest_ids(conn, listing, match=match, limit=limit)
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (lock,))
    return found or []


def land_batch(name: str, batch: Mapping[str, Any], *, run_id: str) -> dict[str, Any]:
    """Land one batch of :func:`plan_batches` (its requests in one transaction)."""
    spec = catalog.spec(name)
    summary = land_requests(spec.api, spec.endpoint, run_id=run_id, calls=batch["calls"],
                            interval_start=datetime.fromisoformat(batch["interval_start"]),
                            interval_end=datetime.fromisoformat(batch["interval_end"]),
                            missing_ok=spec.path_id)
    summary.pop("landed")  # one row per request: too much for XCom; the audit table has them
    return summary


def land_current(name: str, *, run_id: str, config: Config | None = None) -> dict[str, Any]:
    """Land dataset ``name`` for its own current interval (the one its scheduled run would land)."""
    from cryptoflow.snapshots import current_interval

    config = config or load_config()
    start, end = current_interval(config.dataset(name).schedule, datetime.now(UTC))
    return land_dataset(name, interval_start=start, interval_end=end, run_after=None, run_id=run_id,
                        config=config)
