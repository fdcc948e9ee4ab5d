{#- For the reconciliation tests: the price points of the raw /coins/{id}/market_chart/range bodies, read
    from the JSON itself (not through staging, which is what they check), as CTEs `history_windows` (each
    landed window of usd fetched from `since` on whose interval and requested `to` end after it: only
    such windows hold points from `since` on), `history_observed` (its price points) and
    `history_points` (asset_id, observed_at): a point counted only inside its window - [interval_start,
    interval_end) and [from, to] - with a price, and only when no later fetch of the coin covers its
    time (the later fetches' spans gathered once per window, by the raw table's (endpoint, fetched_at)
    index: a check per point against every window was quadratic in history). -#}

{% macro raw_history_points(since) -%}
history_windows as (

    select
        landed.landing_id,
        landed.fetched_at,
        landed.interval_start,
        landed.interval_end,
        landed.body_json,
        per_window.asset_id,
        per_window.window_from,
        per_window.window_to,
        per_window.later_spans
    from {{ source('coingecko', 'coins_market_chart_range') }} as landed
    cross join lateral (
        -- once per window, not per point (OFFSET 0 keeps Postgres from folding it into the points)
        select
            substring(landed.endpoint from '^/coins/([^/]+)/market_chart/range$') as asset_id,
            coalesce(to_timestamp((landed.request_params ->> 'from')::numeric), '-infinity') as window_from,
            coalesce(to_timestamp((landed.request_params ->> 'to')::numeric), 'infinity') as window_to,
            -- where later fetches of the same path speak: each one's interval cut to its [from, to]
            (
                select range_agg(
                    case
                        when bounds.window_from <= bounds.window_to
                            then tstzrange(later.interval_start, later.interval_end, '[)')
                            * tstzrange(bounds.window_from, bounds.window_to, '[]')
                        else 'empty'::tstzrange
                    end
                )
                from {{ source('coingecko', 'coins_market_chart_range') }} as later
                cross join lateral (
                    select
                        coalesce(to_timestamp((later.request_params ->> 'from')::numeric), '-infinity')
                        as window_from,
                        coalesce(to_timestamp((later.request_params ->> 'to')::numeric), 'infinity')
                        as window_to
                ) as bounds
                where
                    later.endpoint = landed.endpoint
                    and later.request_params ->> 'vs_currency' = 'usd'
                    and later.fetched_at >= landed.fetched_at
                    and (later.fetched_at, later.landing_id) > (landed.fetched_at, landed.landing_id)
            ) as later_spans
        offset 0
    ) as per_window
    where
        landed.request_params ->> 'vs_currency' = 'usd'
        and landed.fetched_at >= {{ since }}
        and landed.interval_end > {{ since }}
        and coalesce(to_timestamp((landed.request_params ->> 'to')::numeric), 'infinity') >= {{ since }}

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
        and not coalesce(history_observed.later_spans @> history_observed.observed_at, false)

)
{%- endmacro %}

{#- For the reconciliation tests: the (cmc_id, price_hour) points of the raw CMC
    /v2/cryptocurrency/quotes/historical bodies fetched from `since` on whose interval ends after it,
    read from the JSON with
    JSON paths (not through staging nor macro cmc_quotes_history_points, which is what they check), as CTE
    `cmc_history_hours`: a coin object is `data` itself (one id) or a member of `data` (keyed by id); a
    sample counts with a USD price, inside its landing's data interval. -#}
{% macro raw_cmc_history_hours(since) -%}
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
    where
        landed.fetched_at >= {{ since }}
        and landed.interval_end > {{ since }}

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

{#- For the reconciliation tests: the first hour they may not judge yet, because a landing that `mart`'s
    last build may not have seen touches it: raw rows whose `landed_xid` is at or above the mart's
    largest `built_xmin` (macro commit_watermark) committed while or after that build read, so the mart
    may not reflect them yet (a landing between a model's build and its tests, as a live DAG or a
    catchup does in a running stack). The hour is the earliest such landing's interval start or, for a
    snapshot, the earliest hour its records observe (a coin's `last_updated` may be older than the
    interval); `infinity` when every landing is settled. Only landings that hold a price count: one
    without (an empty window) writes no mart row, so no later build's watermark would pass it. `sources`: 'coingecko_markets',
    'coingecko_history', 'cmc_listings', 'cmc_history'. The next build settles them: the full-history
    run (the daily DAGs) and a quiet stack judge every hour. -#}
{% macro first_unsettled_hour(mart, sources) -%}
(
    with

    built as (

        select coalesce(max(built.built_xmin), '0'::xid8) as watermark
        from {{ mart }} as built

    ),

    unsettled as (

        {%- for name in sources %}
            {%- if name == 'coingecko_markets' %}
        select least(
            landed.interval_start,
            (select min(date_trunc('hour', (records.record ->> 'last_updated')::timestamptz, 'UTC'))
             from jsonb_array_elements(landed.body_json) as records (record))
        ) as first_hour
        from {{ source('coingecko', 'coins_markets') }} as landed
        where
            landed.landed_xid >= (select built.watermark from built)
            and jsonb_path_exists(landed.body_json, 'lax $[*].current_price ? (@ != null)')
            {%- elif name == 'cmc_listings' %}
        select least(
            landed.interval_start,
            (select min(date_trunc('hour', (records.record ->> 'last_updated')::timestamptz, 'UTC'))
             from jsonb_array_elements(landed.body_json -> 'data') as records (record))
        ) as first_hour
        from (select * from {{ source_or_empty('cmc', 'cryptocurrency_listings_latest') }}) as landed
        where
            landed.landed_xid >= (select built.watermark from built)
            and jsonb_path_exists(landed.body_json, 'lax $.data[*].quote.USD.price ? (@ != null)')
            {%- elif name == 'coingecko_history' %}
        select landed.interval_start as first_hour
        from {{ source('coingecko', 'coins_market_chart_range') }} as landed
        where
            landed.landed_xid >= (select built.watermark from built)
            and jsonb_path_exists(landed.body_json, 'lax $.prices[*][1] ? (@ != null)')
            {%- elif name == 'cmc_history' %}
        select landed.interval_start as first_hour
        from (select * from {{ source_or_empty('cmc', 'cryptocurrency_quotes_historical') }}) as landed
        where
            landed.landed_xid >= (select built.watermark from built)
            and jsonb_path_exists(landed.body_json, 'lax $.**.quote.USD.price ? (@ != null)')
            {%- else %}
                {{ exceptions.raise_compiler_error("first_unsettled_hour: unknown source " ~ name) }}
            {%- endif %}
            {%- if not loop.last %}
        union all
            {%- endif %}
        {%- endfor %}

    )

    select coalesce(min(unsettled.first_hour), 'infinity'::timestamptz)
    from unsettled
)
{%- endmacro %}

{#- A mart read by a test without making it the test's parent (a `ref` would: a test runs only when all
    its parents are selected), as its relation; an empty one with the `built_xmin` column when it is not
    built yet. -#}
{% macro mart_relation(name) -%}
    {%- set found = none -%}
    {%- if execute -%}
        {%- set found = adapter.get_relation(database=target.database, schema='marts', identifier=name) -%}
    {%- endif -%}
    {%- if found is not none -%}
        {{ found }}
    {%- else -%}
        (select null::xid8 as built_xmin where false)
    {%- endif -%}
{%- endmacro %}
