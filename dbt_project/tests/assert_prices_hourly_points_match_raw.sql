-- Reconciliation: for every UTC hour, fct_price_hourly holds exactly the (coin, hour) points of the raw
-- bodies, read here from the JSON itself: the /coins/markets snapshots (vs_currency usd, observations
-- with a price) and the /coins/{id}/market_chart/range history windows (macro raw_history_points).
-- Nothing missing, nothing extra (a coin that a re-run of its interval no longer holds is gone too).
-- Hours from var test_since on (an observation of hour H is fetched at or after H), up to the first hour a
-- landing the mart's last build may not have seen touches (macro first_unsettled_hour). A failing row is
-- an hour, with its points on each side.
with

settled as (

    select {{ first_unsettled_hour(ref('fct_price_hourly'), ['coingecko_markets', 'coingecko_history']) }}
        as before_hour

),

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

{{ raw_history_points(var('test_since')) }},  -- noqa: PRS

history_hours as (

    select distinct
        history_points.asset_id,
        date_trunc('hour', history_points.observed_at, 'UTC') as price_hour
    from history_points
    where date_trunc('hour', history_points.observed_at, 'UTC') >= {{ var('test_since') }}

),

raw_points as (

    select
        snapshot_points.asset_id,
        snapshot_points.price_hour
    from snapshot_points

    union

    select
        history_hours.asset_id,
        history_hours.price_hour
    from history_hours

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
where price_hour < (select settled.before_hour from settled)
group by price_hour
having count(*) filter (where raw_asset_id is null or mart_asset_id is null) > 0
