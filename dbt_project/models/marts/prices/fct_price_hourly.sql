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
        indexes=[
            {'columns': ['asset_id', 'price_hour'], 'unique': true},
            {'columns': ['landed_at']},
        ],
    )
}}

with

{% if is_incremental() %}
new_hours as (

    -- hours touched by rows landed since the last run; the staging view is read, not a CTE, so
    -- Postgres pushes the landed_at filter down to the raw table's index instead of unnesting history
    select distinct date_trunc('hour', staged.last_updated_at) as price_hour
    from {{ ref('stg_coingecko__coins_markets') }} as staged
    where
        staged.vs_currency = 'usd'
        and staged.landed_at > (
            select coalesce(max(existing.landed_at), '-infinity'::timestamptz) from {{ this }} as existing
        )

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
    from {{ ref('stg_coingecko__coins_markets') }} as observations
    where
        observations.vs_currency = 'usd'
        {% if is_incremental() %}
            -- an observation of hour H is fetched at or after H
            and observations.fetched_at >= (select min(new_hours.price_hour) from new_hours)
        {% endif %}

),

latest as (

    select * from ranked
    where
        recency = 1
        {% if is_incremental() %}
            and price_hour in (select new_hours.price_hour from new_hours)
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
