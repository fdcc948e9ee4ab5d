"""Plan gating before any call: which plan may call an endpoint, and the reason a run is skipped."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from cryptoflow.apis import get_api
from cryptoflow.plans import EndpointNotOnPlan, check_plan


def test_a_plan_that_may_call_the_endpoint_passes():
    cmc = get_api("cmc")
    check_plan(cmc, "exchange_listings_latest", "growth")
    check_plan(cmc, "cryptocurrency_listings_latest", None)  # ungated: every plan


@pytest.mark.parametrize("plan", ["basic", None])
def test_a_plan_that_may_not_is_a_skip_naming_api_endpoint_plan_and_the_plans_that_may(plan):
    with pytest.raises(EndpointNotOnPlan) as raised:
        check_plan(get_api("cmc"), "exchange_listings_latest", plan)
    assert isinstance(raised.value, AirflowSkipException)
    message = str(raised.value)
    assert message.startswith(
        "CoinMarketCap /v1/exchange/listings/latest (endpoint exchange_listings_latest)")
    assert "connection cmc is on plan basic" in message  # None: the API's default plan
    assert "plans that may: growth, professional, enterprise" in message
