"""What an ingest task does, for any API and endpoint: fetch every page of one request for one data
interval through :class:`~cryptoflow.client.ApiHook` (every call through the shared controls of
:mod:`cryptoflow.limits`), then land them with :mod:`cryptoflow.landing`.

DAG files call these functions inside their tasks (heavy imports stay out of DAG parsing). The return
value is a small summary for XCom: counts and keys, never bodies or credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptoflow.apis import get_api
from cryptoflow.apis.base import Paginator
from cryptoflow.landing import land, request_key
from cryptoflow.plans import check_plan
from cryptoflow.warehouse import WAREHOUSE_CONN_ID, connect, migrate

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
    from cryptoflow.client import ApiHook

    api = get_api(api_name)
    endpoint = api.endpoint(endpoint_name)
    interval = f"[{interval_start.isoformat()}, {interval_end.isoformat()})"
    hook = ApiHook(api, conn_id, retry=retry)
    try:
        _ = hook.session  # reads the connection (no call): its plan may not be allowed this endpoint
        check_plan(api, endpoint_name, hook.plan.name)
        listing = hook.fetch(endpoint_name, params, path_values=path_values, wanted=wanted, interval=interval)
    finally:
        hook.close()
    key = request_key(listing.path, listing.request_params, paging_params(endpoint.paginator))
    conn = connect(warehouse_conn_id)
    try:
        migrate(conn)
        landed = land(conn, raw_table=api.raw_table(endpoint_name), source=api.name, endpoint=listing.path,
                      request_key=key, interval_start=interval_start, interval_end=interval_end,
                      run_id=run_id, pages=listing.pages)
    finally:
        conn.close()
    return {**landed.as_dict(), "calls": hook.calls}


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
    from cryptoflow.snapshots import snapshot_interval

    api = get_api(api_name)
    what = f"{api.title} {api.endpoint(endpoint_name).path}"
    start, end = snapshot_interval(interval_start, interval_end, run_after=run_after, now=datetime.now(UTC),
                                   cadence=cadence, what=what, history=history)
    return land_request(api_name, endpoint_name, interval_start=start, interval_end=end, run_id=run_id,
                        **request)
