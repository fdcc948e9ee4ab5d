"""Whether a connection's plan may call an endpoint, decided before any call.

Some endpoints are gated by plan (CMC ``exchange/listings/latest``: Growth and up). A DAG for such an
endpoint still exists, so that users see why it lands nothing: a run whose connection's plan may not call
it ends **skipped** with the reason, and no call is made (the API would answer 1006 and the task would
fail on every schedule). The plan is the connection's extra ``plan``, else the API's ``default_plan``.

Pure: no I/O; the caller reads the connection.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowSkipException

from cryptoflow.apis.base import Api


class EndpointNotOnPlan(AirflowSkipException):
    """The connection's plan may not call the endpoint: nothing is fetched, landed or deleted."""


def check_plan(api: Api, endpoint_name: str, plan: str | None) -> None:
    """Raise :class:`EndpointNotOnPlan` when ``plan`` (``None``: the API's default) may not call it."""
    endpoint = api.endpoint(endpoint_name)
    plan = plan or api.default_plan
    if endpoint.allowed_on(plan):
        return
    allowed = ", ".join(name for name in api.plans if name in endpoint.plans)
    raise EndpointNotOnPlan(
        f"{api.title} {endpoint.path} (endpoint {endpoint.name}): skipped, the connection {api.conn_id} "
        f"is on plan {plan}, which may not call this endpoint; plans that may: {allowed}. Nothing "
        f"was fetched, landed or deleted. Set the connection extra plan to one of those (with a key "
        f"of that plan), or switch the dataset off in cryptoflow.yaml.")
