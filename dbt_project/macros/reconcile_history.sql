{#- For the reconciliation tests: the price points of the raw /coins/{id}/market_chart/range bodies, read
    from the JSON itself (not through staging, which is what they check), as CTEs `history_windows` (each
    landed window of usd from `fetched_since` on), `history_observed` (its price points) and
    `history_points` (asset_id, observed_at): a point counted only inside its window - [interval_start,
    interval_end) and [from, to] - with a price, and only when no later fetch of the coin covers its
    time. -#}

{% macro raw_history_points(fetched_since) -%}
history_windows as (

    select
        landed.landing_id,
        landed.fetched_at,
        landed.interval_start,
        landed.interval_end,
        landed.body_json,
        substring(landed.endpoint from '^/coins/([^/]+)/market_chart/range$') as asset_id,
        coalesce(to_timestamp((landed.request_params ->> 'from')::numeric), '-infinity') as window_from,
        coalesce(to_timestamp((landed.request_params ->> 'to')::numeric), 'infinity') as window_to
    from {{ source('coingecko', 'coins_market_chart_range') }} as landed
    where
        landed.request_params ->> 'vs_currency' = 'usd'
        and landed.fetched_at >= {{ fetched_since }}

),

history_observed as (

    select
        history_windows.*,
        timestamptz '1970-01-01 00:00:00+00' + (elements.point ->> 0)::bigint * interval '1 millisecond'
        as observed_at,
        elements.point ->> 1 is not null as has_price
    from history_windows
    cross join lateral jsonb_array_elements(history_windows.body_json -> 'prices') as elements (point)

),

history_points as (

    select
        history_observed.asset_id,
        history_observed.observed_at
    from history_observed
    where
        history_observed.has_price
        and history_observed.observed_at >= history_observed.interval_start
        and history_observed.observed_at < history_observed.interval_end
        and history_observed.observed_at between history_observed.window_from and history_observed.window_to
        and not exists (
            select from history_windows as later
            where
                later.asset_id = history_observed.asset_id
                and (later.fetched_at, later.landing_id) > (history_observed.fetched_at, history_observed.landing_id)
                and history_observed.observed_at >= later.interval_start
                and history_observed.observed_at < later.interval_end
                and history_observed.observed_at between later.window_from and later.window_to
        )

)
{%- endmacro %}

{#- For the reconciliation tests: the (cmc_id, price_hour) points of the raw CMC
    /v2/cryptocurrency/quotes/historical bodies fetched from `fetched_since` on, read from the JSON with
    JSON paths (not through staging nor macro cmc_quotes_history_points, which is what they check), as CTE
    `cmc_history_hours`: a coin object is `data` itself (one id) or a member of `data` (keyed by id); a
    sample counts with a USD price, inside its landing's data interval. -#}
{% macro raw_cmc_history_hours(fetched_since) -%}
cmc_history_coins as (

    select
        landed.interval_start,
        landed.interval_end,
        coins.coin
    from (select * from {{ source_or_empty('cmc', 'cryptocurrency_quotes_historical') }}) as landed
    cross join lateral (
        select jsonb_path_query(landed.body_json, 'strict $.data ? (exists(@.quotes))')
        union all
        select jsonb_path_query(landed.body_json, 'strict $.data.* ? (exists(@.quotes))')
    ) as coins (coin)
    where landed.fetched_at >= {{ fetched_since }}

),

cmc_history_hours as (

    select distinct
        (cmc_history_coins.coin ->> 'id')::bigint as cmc_id,
        date_trunc('hour', (samples.sample ->> 'timestamp')::timestamptz, 'UTC') as price_hour
    from cmc_history_coins
    cross join lateral jsonb_array_elements(cmc_history_coins.coin -> 'quotes') as samples (sample)
    where
        samples.sample -> 'quote' -> 'USD' ->> 'price' is not null
        and (samples.sample ->> 'timestamp')::timestamptz >= cmc_history_coins.interval_start
        and (samples.sample ->> 'timestamp')::timestamptz < cmc_history_coins.interval_end

)
{%- endmacro %}
