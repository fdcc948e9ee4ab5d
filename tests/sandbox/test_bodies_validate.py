"""What the sandbox serves passes validation, and every value validation lets through casts in Postgres.

For every endpoint of every API, realistic requests (the pipeline's default parameters, several ids,
per-id paths, pairs taken from the spot-pair listing, both spellings the sources disagree on) are sent
to the running sandbox; each body must pass :func:`cryptoflow.validation.validate` under its endpoint's
rule, every typed path of the rule must reach a value in those bodies (a misspelt path would check
nothing), and every typed value must survive the cast a staging model makes of ``record ->> 'field'``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg
import pytest

from cryptoflow.apis import APIS
from cryptoflow.validation import MISSING, reach, records_of, validate
from tests.sandbox.conftest import NOW_S

DAY = 86_400
TYPED = ("numeric", "integers", "timestamps")
# Endpoints whose records hold nothing a staging model casts: a heartbeat and a pure id listing.
UNTYPED = {("coingecko", "ping"), ("coingecko", "coins_list")}
ALL_PERIODS = "1h,24h,7d,14d,30d,200d,1y"

Value = str | Callable[[Any], str]


@dataclass(frozen=True)
class Case:
    """One request; a ``path`` or ``params`` value may be a function of the client (ids other calls find)."""

    api: str
    endpoint: str
    path: Value
    params: dict[str, Value] = field(default_factory=dict)
    plan: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # sandbox settings for this request only


def _json(client, api: str, path: str, **params: Any) -> Any:
    response = client.get(api, path, **params)
    assert response.status_code == 200, response.text
    return response.json()


def spot_pairs(client) -> list[dict]:
    return _json(client, "cmc_dex", "/v4/dex/spot-pairs/latest", network_slug="ethereum", limit=100)["data"]


def top_pair(client) -> str:
    return spot_pairs(client)[0]["contract_address"]


def young_pair(client) -> str:
    return max(spot_pairs(client), key=lambda p: p["created_at"])["contract_address"]


def twenty_pairs(client) -> str:
    return ",".join(p["contract_address"] for p in spot_pairs(client)[:20])


def second_scroll(client) -> str:
    return spot_pairs(client)[-1]["scroll_id"]


def low_ranked_coin(client) -> str:
    return _json(client, "coingecko", "/coins/markets", vs_currency="usd", per_page=250, page=2)[-1]["id"]


def first_cmc_ids(client) -> str:
    return ",".join(str(c["id"]) for c in _json(client, "cmc", "/v1/cryptocurrency/map", limit=100)["data"])


def inactive_cmc_ids(client) -> str:
    data = _json(client, "cmc", "/v1/cryptocurrency/map", listing_status="inactive", limit=50)["data"]
    return ",".join(str(c["id"]) for c in data)


CASES = [
    Case("coingecko", "ping", "/ping"),
    Case("coingecko", "coins_markets", "/coins/markets", {"per_page": "250", "page": "1"}),
    Case("coingecko", "coins_markets", "/coins/markets", {"per_page": "250", "page": "2"}),
    Case("coingecko", "coins_markets", "/coins/markets",
         {"per_page": "200", "page": "3", "price_change_percentage": ALL_PERIODS}),
    Case("coingecko", "coins_list", "/coins/list"),
    Case("coingecko", "coins_list", "/coins/list", {"status": "inactive"}),
    Case("coingecko", "coin", "/coins/bitcoin"),
    Case("coingecko", "coin", "/coins/ethereum"),
    Case("coingecko", "coin", "/coins/tether"),
    Case("coingecko", "coin", "/coins/chainlink"),
    Case("coingecko", "coin", lambda c: f"/coins/{low_ranked_coin(c)}"),
    Case("coingecko", "coins_market_chart", "/coins/ethereum/market_chart", {"days": "1"}),
    Case("coingecko", "coins_market_chart", "/coins/ethereum/market_chart", {"days": "30"}),
    Case("coingecko", "coins_market_chart", "/coins/bitcoin/market_chart", {"days": "365"}),
    Case("coingecko", "coins_market_chart_range", "/coins/bitcoin/market_chart/range",
         {"from": str(int(NOW_S - 30 * DAY)), "to": str(int(NOW_S))}),
    Case("coingecko", "coins_market_chart_range", "/coins/tether/market_chart/range",
         {"from": str(int(NOW_S - 300 * DAY)), "to": str(int(NOW_S - 100 * DAY))}),
    Case("coingecko", "coins_ohlc", "/coins/bitcoin/ohlc", {"days": "1"}),
    Case("coingecko", "coins_ohlc", "/coins/bitcoin/ohlc", {"days": "30"}),
    Case("coingecko", "coins_ohlc", "/coins/ethereum/ohlc", {"days": "365"}),
    Case("coingecko", "search_trending", "/search/trending"),
    Case("coingecko", "global", "/global"),
    Case("coingecko", "exchanges", "/exchanges", {"per_page": "250", "page": "1"}),
    Case("coingecko", "key", "/key", plan="basic"),
    Case("cmc", "cryptocurrency_map", "/v1/cryptocurrency/map", {"limit": "5000"}),
    Case("cmc", "cryptocurrency_map", "/v1/cryptocurrency/map", {"listing_status": "inactive,untracked"}),
    Case("cmc", "cryptocurrency_listings_latest", "/v1/cryptocurrency/listings/latest", {"limit": "5000"}),
    *(Case("cmc", "cryptocurrency_quotes_latest", "/v2/cryptocurrency/quotes/latest", params)
      for params in ({"id": "1,1027,825,1975"}, {"id": inactive_cmc_ids}, {"symbol": "TON,BTC"})),
    Case("cmc", "cryptocurrency_info", "/v2/cryptocurrency/info", {"id": first_cmc_ids}),
    Case("cmc", "cryptocurrency_info", "/v2/cryptocurrency/info", {"id": "1,1027,1975"}),
    Case("cmc", "cryptocurrency_quotes_historical", "/v2/cryptocurrency/quotes/historical",
         {"id": "1,1027,1975", "count": "24"}),
    Case("cmc", "cryptocurrency_quotes_historical", "/v2/cryptocurrency/quotes/historical",
         {"id": "1", "interval": "daily", "count": "30"}),
    Case("cmc", "cryptocurrency_quotes_historical", "/v2/cryptocurrency/quotes/historical",
         {"id": "1,825", "count": "12"}, settings={"cmc_volume_field": "volume_24hr"}),
    Case("cmc", "cryptocurrency_ohlcv_historical", "/v2/cryptocurrency/ohlcv/historical",
         {"id": "1,1027", "count": "30"}, plan="startup"),
    Case("cmc", "cryptocurrency_ohlcv_historical", "/v2/cryptocurrency/ohlcv/historical",
         {"id": "1", "time_period": "hourly", "count": "48"}, plan="startup"),
    Case("cmc", "global_metrics_quotes_latest", "/v1/global-metrics/quotes/latest"),
    Case("cmc", "global_metrics_quotes_historical", "/v1/global-metrics/quotes/historical", {"count": "30"}),
    Case("cmc", "global_metrics_quotes_historical", "/v1/global-metrics/quotes/historical",
         {"interval": "hourly", "count": "24"}),
    Case("cmc", "fear_and_greed_latest", "/v3/fear-and-greed/latest"),
    Case("cmc", "fear_and_greed_historical", "/v3/fear-and-greed/historical", {"limit": "500"}),
    Case("cmc", "fear_and_greed_historical", "/v3/fear-and-greed/historical", {"limit": "20"},
         settings={"fear_greed_timestamp": "number"}),
    Case("cmc", "exchange_listings_latest", "/v1/exchange/listings/latest", {"limit": "5000"}, plan="growth"),
    Case("cmc", "key_info", "/v1/key/info"),
    Case("cmc_dex", "networks_list", "/v4/dex/networks/list"),
    Case("cmc_dex", "spot_pairs_latest", "/v4/dex/spot-pairs/latest",
         {"network_slug": "ethereum", "limit": "100"}),
    Case("cmc_dex", "spot_pairs_latest", "/v4/dex/spot-pairs/latest",
         {"network_slug": "ethereum", "limit": "100", "scroll_id": second_scroll}),
    *(Case("cmc_dex", "spot_pairs_latest", "/v4/dex/spot-pairs/latest", {"network_id": nid, "limit": "50"})
      for nid in ("14", "16", "25", "51", "199")),
    Case("cmc_dex", "pairs_quotes_latest", "/v4/dex/pairs/quotes/latest",
         {"network_slug": "ethereum", "contract_address": twenty_pairs}),
    Case("cmc_dex", "pairs_quotes_latest", "/v4/dex/pairs/quotes/latest",
         {"network_slug": "ethereum", "contract_address": top_pair, "convert_id": "2781,1"}),
    Case("cmc_dex", "pairs_ohlcv_historical", "/v4/dex/pairs/ohlcv/historical",
         {"network_slug": "ethereum", "contract_address": top_pair, "count": "100"}),
    Case("cmc_dex", "pairs_ohlcv_historical", "/v4/dex/pairs/ohlcv/historical",
         {"network_slug": "ethereum", "contract_address": young_pair, "time_period": "daily", "count": "30"}),
    Case("cmc_dex", "pairs_trade_latest", "/v4/dex/pairs/trade/latest",
         {"network_slug": "ethereum", "contract_address": top_pair,
          "aux": "transaction_hash,blockchain_explorer_link"}),
]
ENDPOINTS = sorted({(c.api, c.endpoint) for c in CASES})
FETCHED: dict[tuple[str, str], list[tuple[str, str, str]]] = {}  # the sandbox's clock is frozen


def unleash(sb) -> None:
    sb.set_limits(enforce=False)  # these tests look at bodies, not at limits


def resolve(client, value: Value) -> str:
    return value(client) if callable(value) else value


def fetch(client, sb, api: str, endpoint: str) -> list[tuple[str, str, str]]:
    """``(request, text, content type)`` of every case of an endpoint, each answered 200."""
    if (api, endpoint) in FETCHED:
        return FETCHED[(api, endpoint)]
    unleash(sb)
    out = []
    for case in (c for c in CASES if (c.api, c.endpoint) == (api, endpoint)):
        given = {k: resolve(client, v) for k, v in case.params.items()}
        params = {**APIS[api].endpoint(endpoint).params, **given}  # the pipeline's defaults under them
        path = resolve(client, case.path)
        if case.settings:
            sb.reset()  # the sandbox caches bodies: start from an empty cache with the changed settings
            sb.set_settings(**case.settings)
            unleash(sb)
        response = client.get(api, path, plan=case.plan, **params)
        if case.settings:
            sb.reset()
            unleash(sb)
        assert response.status_code == 200, f"{path} {params}: {response.text[:300]}"
        out.append((f"{path} {params}", response.text, response.headers["content-type"]))
    FETCHED[(api, endpoint)] = out
    return out


def typed_paths(rule) -> list[tuple[str, str]]:
    return [(kind, path) for kind in TYPED for path in getattr(rule, kind)]


def test_every_endpoint_is_fetched() -> None:
    assert set(ENDPOINTS) == {(api.name, name) for api in APIS.values() for name in api.endpoints}


@pytest.mark.parametrize(("api", "endpoint"), ENDPOINTS, ids=[f"{a}.{e}" for a, e in ENDPOINTS])
def test_every_rule_types_what_staging_casts(api, endpoint) -> None:
    """A rule left empty is caught: every endpoint but a pure id listing names typed fields, each once."""
    rule = APIS[api].endpoint(endpoint).body
    paths = [path for _, path in typed_paths(rule)]
    if (api, endpoint) in UNTYPED:
        assert not paths, "an untyped endpoint gained typed fields: take it off UNTYPED"
    else:
        assert paths, f"{api}.{endpoint}: the rule types no field (numeric, integers, timestamps)"
    assert len(paths) == len(set(paths)), "a field is listed under two types"


@pytest.mark.parametrize(("api", "endpoint"), ENDPOINTS, ids=[f"{a}.{e}" for a, e in ENDPOINTS])
def test_sandbox_bodies_pass_validation(client, sb, api, endpoint) -> None:
    rule = APIS[api].endpoint(endpoint).body
    reached: set[str] = set()
    for request, text, content_type in fetch(client, sb, api, endpoint):
        _, records = validate(text, content_type, rule)  # InvalidBody names the record and the field
        assert records or rule.allow_empty, request
        for record in records:
            if (api, endpoint) in UNTYPED:  # nothing to cast: no numbers at all
                assert not any(isinstance(v, int | float) for v in record.values()), record
            reached |= {path for _, path in typed_paths(rule)
                        if any(v is not MISSING for _, v in reach(record, path))}
    unreached = [path for _, path in typed_paths(rule) if path not in reached]
    assert not unreached, f"typed paths that reach nothing in the sandbox's bodies (misspelt?): {unreached}"


CASTS = {"numeric": "numeric", "integers": "bigint", "timestamps": "timestamptz"}


def expected(kind: str, value: Any) -> Any:
    if kind == "numeric":
        return Decimal(orjson.dumps(value).decode())
    if kind == "integers":
        return int(value)
    return datetime.fromisoformat(value)


def test_validated_values_cast_in_postgres(client, sb, warehouse) -> None:
    """Each typed value of every body, read as staging reads it (``jsonb`` then ``->>``), casts, and a
    timestamp means the same instant in a session far from UTC."""
    warehouse.execute("SET TIME ZONE 'Asia/Kathmandu'")  # +05:45: a zone-less time would shift
    cast = 0
    for api, endpoint in ENDPOINTS:
        rule = APIS[api].endpoint(endpoint).body
        records = [r for _, text, _ in fetch(client, sb, api, endpoint)
                   for r in records_of(orjson.loads(text), rule)]
        for kind, path in typed_paths(rule):
            values = [v for r in records for _, v in reach(r, path) if v is not MISSING and v is not None]
            if not values:
                continue
            try:
                got = [row[0] for row in warehouse.execute(
                    f"SELECT (v #>> '{{}}')::{CASTS[kind]} FROM jsonb_array_elements(%s::jsonb)"
                    " WITH ORDINALITY AS t(v, i) ORDER BY i", (orjson.dumps(values).decode(),)).fetchall()]
            except psycopg.Error as exc:
                pytest.fail(f"{api}.{endpoint} {path}: a validated value does not cast: {exc}")
            assert got == [expected(kind, v) for v in values], f"{api}.{endpoint} {path}"
            cast += len(values)
    assert cast > 10_000
