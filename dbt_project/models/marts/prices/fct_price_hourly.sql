-- One row per asset per hour: the latest observation whose own timestamp (`last_updated`) falls in
-- that hour. A late or re-run landing is filed under the hour of its data, never of its run.
--
-- Incremental: a run recomputes only the hours touched by rows landed since the last run, reading
-- only raw rows fetched from the earliest such hour on (an observation of hour H is fetched at or
-- after H), so its cost follows new data, not history.
{{
    config(
        materialized='incremental',
        unique_key=['asset_id', 'price_hour'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

observations as (

    select * from {{ ref('stg_coingecko__coins_markets') }}
    where vs_currency = 'usd'

),

{% if is_incremental() %}
new_rows as (

    select distinct date_trunc('hour', observations.last_updated_at) as price_hour
    from observations
    where observations.landed_at > (
        select coalesce(max(existing.landed_at), '-infinity'::timestamptz) from {{ this }} as existing
    )

),

window_start as (

    select min(price_hour) as since from new_rows

),
{% endif %}

ranked as (

    select
        observations.*,
        date_trunc('hour', observations.last_updated_at) as price_hour,
        row_number() over (
            partition by observations.coin_id, date_trunc('hour', observations.last_updated_at)
            order by observations.last_updated_at desc, observations.fetched_at desc,
                observations.landing_id desc
        ) as recency
    from observations
    {% if is_incremental() %}
    where observations.fetched_at >= (select window_start.since from window_start)
    {% endif %}

),

latest as (

    select * from ranked
    where recency = 1
    {% if is_incremental() %}
        and price_hour in (select new_rows.price_hour from new_rows)
    {% endif %}

)

select
    -- ids
    coin_id as asset_id,
    'coingecko' as source,

    -- numbers
    price as price_usd,
    market_cap as market_cap_usd,
    volume_24h as volume_24h_usd,
    market_cap_rank,

    -- timestamps
    price_hour,
    last_updated_at as observed_at,
    landed_at

from latest
