-- Reconciliation: for every source and UTC day, fct_price_daily holds exactly the (asset, day) points of
-- the raw bodies (CoinGecko /coins/markets in usd and the /coins/{id}/market_chart/range history points
-- in usd, CMC listings with a USD quote and the CMC quotes/historical samples inside their landing's
-- interval, macro raw_cmc_history_hours; observations with a price), and its hours_observed is the number
-- of distinct hours the raw bodies hold for the asset that day (history points: macro
-- raw_history_points). Days from var test_since on, before the day of the first hour a landing the
-- hourly marts' last builds may not have seen touches (macro first_unsettled_hour: the daily mart is
-- built from them). A failing row is a (source, day) with its points on each side.
with

settled as (

    select (
        least(
            {{ first_unsettled_hour(mart_relation('fct_price_hourly'),
                                    ['coingecko_markets', 'coingecko_history']) }},
            {{ first_unsettled_hour(mart_relation('fct_cmc_price_hourly'), ['cmc_listings', 'cmc_history']) }}
        ) at time zone 'UTC'
    )::date as before_day

),

since as (

    -- the first UTC day checked
    select ((({{ var('test_since') }})::timestamptz at time zone 'UTC')::date) as first_day

),

{{ raw_history_points("(select since.first_day::timestamp at time zone 'UTC' from since)") }},  -- noqa: PRS

{{ raw_cmc_history_hours("(select since.first_day::timestamp at time zone 'UTC' from since)") }},

raw_hours as (

    select distinct
        'coingecko' as source,
        elements.record ->> 'id' as asset_key,
        date_trunc('hour', (elements.record ->> 'last_updated')::timestamptz, 'UTC') as price_hour
    from {{ source('coingecko', 'coins_markets') }} as landed
    cross join lateral jsonb_array_elements(landed.body_json) as elements (record)
    where
        landed.request_params ->> 'vs_currency' = 'usd'
        and landed.fetched_at >= (select since.first_day::timestamp at time zone 'UTC' from since)
        and elements.record ->> 'current_price' is not null

    union

    select distinct
        'coingecko' as source,
        history_points.asset_id as asset_key,
        date_trunc('hour', history_points.observed_at, 'UTC') as price_hour
    from history_points

    union

    select distinct
        'cmc' as source,
        elements.record ->> 'id' as asset_key,
        date_trunc('hour', (elements.record ->> 'last_updated')::timestamptz, 'UTC') as price_hour
    from (select * from {{ source_or_empty('cmc', 'cryptocurrency_listings_latest') }}) as landed
    cross join lateral jsonb_array_elements(landed.body_json -> 'data') as elements (record)
    where
        landed.fetched_at >= (select since.first_day::timestamp at time zone 'UTC' from since)
        and elements.record -> 'quote' -> 'USD' ->> 'price' is not null

    union

    select distinct
        'cmc' as source,
        cmc_history_hours.cmc_id::text as asset_key,
        cmc_history_hours.price_hour
    from cmc_history_hours

),

raw_points as (

    select
        source,
        asset_key,
        (price_hour at time zone 'UTC')::date as price_date,
        count(*) as hours_observed
    from raw_hours
    where (price_hour at time zone 'UTC')::date >= (select since.first_day from since)
    group by source, asset_key, (price_hour at time zone 'UTC')::date

),

mart_points as (

    select
        source,
        asset_key,
        price_date,
        hours_observed
    from {{ ref('fct_price_daily') }}
    where price_date >= (select since.first_day from since)

),

compared as (

    select
        coalesce(raw_points.source, mart_points.source) as source,
        coalesce(raw_points.price_date, mart_points.price_date) as price_date,
        raw_points.asset_key as raw_asset_key,
        mart_points.asset_key as mart_asset_key,
        coalesce(raw_points.hours_observed <> mart_points.hours_observed, false) as hours_differ
    from raw_points
    full outer join mart_points
        on
            raw_points.source = mart_points.source
            and raw_points.asset_key = mart_points.asset_key
            and raw_points.price_date = mart_points.price_date

)

select
    source,
    price_date,
    count(raw_asset_key) as raw_points,
    count(mart_asset_key) as mart_points,
    count(*) filter (where mart_asset_key is null) as missing_in_mart,
    count(*) filter (where raw_asset_key is null) as extra_in_mart,
    count(*) filter (where hours_differ) as hours_observed_differ
from compared
where price_date < (select settled.before_day from settled)
group by source, price_date
having count(*) filter (where raw_asset_key is null or mart_asset_key is null or hours_differ) > 0
