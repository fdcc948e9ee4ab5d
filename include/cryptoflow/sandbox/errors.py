"""Error answers exactly as the real APIs give them (API_FACTS §1.3, §2.3).

CoinGecko has four envelopes: ``{"status": {...}}`` (rate limit, keys, plan), ``{"error": {"status":
{...}}}`` (10012, history beyond the plan), ``{"error": "..."}`` (parameters, unknown coin) and an HTML
page (CDN). CMC has one: ``{"status": {..., "error_code": N, "credit_count": 0}}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptoflow.sandbox.timefmt import iso_ms


@dataclass
class ApiError(Exception):
    """An answer other than 200, carrying its status, body and extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    rate_limited: bool = False

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.body}"


CG_PRICING = "https://www.coingecko.com/en/api/pricing"
CG_RATE_LIMIT = (
    f"You've exceeded the Rate Limit. Please visit {CG_PRICING} to subscribe to our API plans for "
    "higher rate limits."
)


def cg_status(
    status: int, code: int, message: str, headers: dict[str, str] | None = None, rate_limited: bool = False
) -> ApiError:
    """``{"status": {"error_code": code, "error_message": message}}``."""
    return ApiError(
        status,
        {"status": {"error_code": code, "error_message": message}},
        headers or {},
        rate_limited=rate_limited,
    )


def cg_rate_limited(retry_after: int) -> ApiError:
    return cg_status(429, 429, CG_RATE_LIMIT, {"Retry-After": str(retry_after)}, rate_limited=True)


def cg_credits_exhausted(retry_after: int) -> ApiError:
    # UNCERTAIN: no source shows the monthly-credit answer; the rate-limit envelope with its own message.
    return cg_status(
        429,
        429,
        f"You've exceeded your monthly API call credits. Please visit {CG_PRICING} to upgrade your plan.",
        {"Retry-After": str(retry_after)},
        rate_limited=True,
    )


def cg_key_missing() -> ApiError:
    return cg_status(401, 10002, "API Key Missing")


def cg_key_invalid() -> ApiError:
    # UNCERTAIN: an invalid key most likely also gives 10002 (CG-AUTH calls it "Incorrect API Key").
    return cg_status(401, 10002, "Incorrect API Key")


def cg_wrong_host(pro_key_on_public: bool, status: int) -> ApiError:
    if pro_key_on_public:
        return cg_status(
            status,
            10010,
            "If you are using Pro API key, please change your root URL from "
            "api.coingecko.com to pro-api.coingecko.com",
        )
    return cg_status(
        status,
        10011,
        "If you are using Demo API key, please change your root URL from "
        "pro-api.coingecko.com to api.coingecko.com",
    )


def cg_paid_only() -> ApiError:
    return cg_status(
        401,
        10005,
        "This request is limited Pro API subscribers. You may wanna subscribe to our paid "
        f"plans here {CG_PRICING}",
    )


HISTORY_MESSAGE = (
    "Your request exceeds the allowed time range. Public API users are limited to querying historical data "
    "within the past 365 days. Upgrade to a paid plan to enjoy full historical data access: "
    f"{CG_PRICING}. "
)


def cg_history_limit(now: float) -> ApiError:
    """10012, with the extra ``error`` wrapper, the timestamp and the trailing space of the real body."""
    return ApiError(
        401,
        {
            "error": {
                "status": {
                    "timestamp": iso_ms(now).replace("Z", "+00:00"),
                    "error_code": 10012,
                    "error_message": HISTORY_MESSAGE,
                }
            }
        },
    )


def cg_error(status: int, message: str) -> ApiError:
    """``{"error": "message"}`` (bad parameter, unknown coin)."""
    return ApiError(status, {"error": message})


def cg_not_found_path() -> ApiError:
    return cg_error(404, "Incorrect path. Please check https://docs.coingecko.com/")


# -------------------------------------------------------------------------------------------- CMC

CMC_MESSAGES = {
    1001: (401, "This API Key is invalid."),
    1002: (401, "API key missing."),
    1003: (402, "Your API Key must be activated. Please go to pro.coinmarketcap.com/account/plan."),
    1004: (402, "Your API Key's subscription plan has expired."),
    1005: (403, "An API Key is required for this call."),
    1006: (403, "Your API Key subscription plan doesn't support this endpoint."),
    1007: (403, "This API Key has been disabled. Please contact support."),
    1008: (429, "You've exceeded your API Key's HTTP request rate limit. Rate limits reset every minute."),
    1009: (429, "You've exceeded your API Key's daily rate limit."),
    1010: (429, "You've exceeded your API Key's monthly rate limit."),
    1011: (429, "You've hit an IP rate limit."),
}


def cmc_status(
    now: float,
    code: int = 0,
    message: str | None = None,
    *,
    credits: int = 0,
    elapsed: int = 0,
    total_count: int | None = None,
) -> dict[str, Any]:
    """CMC's ``status`` object."""
    status: dict[str, Any] = {
        "timestamp": iso_ms(now),
        "error_code": code,
        "error_message": message,
        "elapsed": elapsed,
        "credit_count": credits,
        "notice": None,
    }
    if total_count is not None:
        status["total_count"] = total_count
    return status


def cmc_error(
    now: float,
    code: int,
    message: str | None = None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> ApiError:
    """A CMC error: the documented status and message for ``code`` unless given."""
    http, text = CMC_MESSAGES.get(code, (status or 400, message or "Bad request"))
    return ApiError(
        status or http,
        {"status": cmc_status(now, code, message or text)},
        headers or {},
        rate_limited=code in (1008, 1009, 1010, 1011),
    )


def cmc_bad_request(now: float, message: str) -> ApiError:
    """HTTP 400 with ``error_code`` 400 and a parameter-specific message."""
    return ApiError(400, {"status": cmc_status(now, 400, message)})


def error_for(api_style: str, now: float, status: int, message: str) -> ApiError:
    """A generic error (injected 5xx, unknown path) in the API's own envelope."""
    if api_style == "coingecko":
        return cg_error(status, message)
    return ApiError(status, {"status": cmc_status(now, status, message)})


HTML_PAGE = """<!DOCTYPE html>
<html lang="en-US"><head><title>{title}</title><meta charset="UTF-8"></head>
<body><div id="cf-wrapper"><h1>{title}</h1><p>Error {status}. The web server reported an error.</p>
<p>Cloudflare Ray ID: {ray} &bull; Performance &amp; security by Cloudflare</p></div></body></html>
"""


def html_page(status: int, ray: str = "8c1f2a3b4d5e6f70") -> bytes:
    """A Cloudflare-style HTML error page (CoinGecko's CDN answers; also a fault kind)."""
    title = {
        200: "Just a moment...",
        429: "Too Many Requests",
        502: "Bad gateway",
        503: "Service unavailable",
        504: "Gateway time-out",
        403: "Access denied",
    }.get(status, "Error")
    return HTML_PAGE.format(title=title, status=status, ray=ray).encode()
