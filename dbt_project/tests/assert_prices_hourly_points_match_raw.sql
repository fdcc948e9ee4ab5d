-- Reconciliation: for every UTC hour, fct_price_hourly holds exactly the (coin, hour) points of the raw
-- bodies, read here from the JSON itself: the /coins/markets snapshots (vs_currency usd, observations
-- with a price) and the /coins/{id}/market_chart/range history windows (usd; a point counted only inside
-- its window - [interval_start, interval_end) and [from, to] - and only when no later fetch of the coin
-- covers its time). Nothing missing, nothing extra (a coin that a re-run of its interval no longer
-- holds is gone too). Hours from var test_since on (an observation of hour H is fetched at or after H).
-- A failing row is an hour, with its points on each side.
with

snapshot_points as (

    select distinct
        elements.record ->> 'id' as asset_id,
        date_trunc('hour', (elements.record ->> 'last_updated')::timestamptz, 'UTC') as price_hour
    from {{ source('coingecko', 'coins_markets') }} as landed
    cross join lateral jsonb_array_elements(landed.body_json) as elements (record)
    where
        landed.request_params ->> 'vs_currency' = 'usd'
        and landed.fetched_at >= {{ var('test_since') }}
        and elements.record ->> 'current_price' is not null
        and date_trunc('hour', (elements.record ->> 'last_updated')::timestamptz, 'UTC')
        >= {{ var('test_since') }}

),

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
        and landed.fetched_at >= {{ var('test_since') }}

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

    select distinct
        history_observed.asset_id,
        date_trunc('hour', history_observed.observed_at, 'UTC') as price_hour
    from history_observed
    where
        history_observed.has_price
        and history_observed.observed_at >= history_observed.interval_start
        and history_observed.observed_at < history_observed.interval_end
        and history_observed.observed_at between history_observed.window_from and history_observed.window_to
        and date_trunc('hour', history_observed.observed_at, 'UTC') >= {{ var('test_since') }}
        and not exists (
            select from history_windows as later
            where
                later.asset_id = history_observed.asset_id
                and (later.fetched_at, later.landing_id) > (history_observed.fetched_at, history_observed.landing_id)
                and history_observed.observed_at >= later.interval_start
                and history_observed.observed_at < later.interval_end
                and history_observed.observed_at between later.window_from and later.window_to
        )

),

raw_points as (

    select
        snapshot_points.asset_id,
        snapshot_points.price_hour
    from snapshot_points

    union

    select
        history_points.asset_id,
        history_points.price_hour
    from history_points

),

mart_points as (

    select
        asset_id,
        price_hour
    from {{ ref('fct_price_hourly') }}
    where price_hour >= {{ var('test_since') }}

),

compared as (

    select
        coalesce(raw_points.price_hour, mart_points.price_hour) as price_hour,
        raw_points.asset_id as raw_asset_id,
        mart_points.asset_id as mart_asset_id
    from raw_points
    full outer join mart_points
        on
            raw_points.asset_id = mart_points.asset_id
            and raw_points.price_hour = mart_points.price_hour

)

select
    price_hour,
    count(raw_asset_id) as raw_points,
    count(mart_asset_id) as mart_points,
    count(*) filter (where mart_asset_id is null) as missing_in_mart,
    count(*) filter (where raw_asset_id is null) as extra_in_mart
from compared
group by price_hour
having count(*) filter (where raw_asset_id is null or mart_asset_id is null) > 0
