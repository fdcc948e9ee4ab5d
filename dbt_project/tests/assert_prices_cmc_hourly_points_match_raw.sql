-- Reconciliation: for every UTC hour, fct_cmc_price_hourly holds exactly the (CMC id, hour) points of the
-- raw /v1/cryptocurrency/listings/latest bodies (observations with a USD price) and of the raw
-- /v2/cryptocurrency/quotes/historical bodies (samples with a USD price inside their landing's data
-- interval: macro raw_cmc_history_hours), read here from the JSON itself: nothing missing, nothing extra.
-- Hours from var test_since on (an observation of hour H is fetched at or after H), up to the first hour a
-- landing the mart's last build may not have seen touches (macro first_unsettled_hour). A failing row is
-- an hour, with its points on each side.
with

settled as (

    select {{ first_unsettled_hour(ref('fct_cmc_price_hourly'), ['cmc_listings', 'cmc_history']) }}
        as before_hour

),

{{ raw_cmc_history_hours(var('test_since')) }},

raw_points as (

    select
        cmc_history_hours.cmc_id,
        cmc_history_hours.price_hour
    from cmc_history_hours
    where cmc_history_hours.price_hour >= {{ var('test_since') }}

    union

    select distinct
        (elements.record ->> 'id')::bigint as cmc_id,
        date_trunc('hour', (elements.record ->> 'last_updated')::timestamptz, 'UTC') as price_hour
    from (select * from {{ source_or_empty('cmc', 'cryptocurrency_listings_latest') }}) as landed
    cross join lateral jsonb_array_elements(landed.body_json -> 'data') as elements (record)
    where
        landed.fetched_at >= {{ var('test_since') }}
        and elements.record -> 'quote' -> 'USD' ->> 'price' is not null
        and date_trunc('hour', (elements.record ->> 'last_updated')::timestamptz, 'UTC')
        >= {{ var('test_since') }}

),

mart_points as (

    select
        cmc_id,
        price_hour
    from {{ ref('fct_cmc_price_hourly') }}
    where price_hour >= {{ var('test_since') }}

),

compared as (

    select
        coalesce(raw_points.price_hour, mart_points.price_hour) as price_hour,
        raw_points.cmc_id as raw_cmc_id,
        mart_points.cmc_id as mart_cmc_id
    from raw_points
    full outer join mart_points
        on
            raw_points.cmc_id = mart_points.cmc_id
            and raw_points.price_hour = mart_points.price_hour

)

select
    price_hour,
    count(raw_cmc_id) as raw_points,
    count(mart_cmc_id) as mart_points,
    count(*) filter (where mart_cmc_id is null) as missing_in_mart,
    count(*) filter (where raw_cmc_id is null) as extra_in_mart
from compared
where price_hour < (select settled.before_hour from settled)
group by price_hour
having count(*) filter (where raw_cmc_id is null or mart_cmc_id is null) > 0
