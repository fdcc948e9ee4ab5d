-- One row per coin per UTC hour in which CoinGecko listed it as trending: the coin's place, market cap
-- rank and prices from the latest trending list of that hour that held it. The list has no timestamp
-- of its own, so a list belongs to the hour it was fetched in (`fetched_at`, the API's `Date`).
--
-- Incremental (the commit-ordered watermark of macro commit_watermark): a run recomputes only the
-- (hour, coin) rows touched since the snapshot the last build read, reading staging only from lists
-- fetched from the earliest such hour on (the raw table's fetched_at index):
-- - the rows of lists committed since then;
-- - the rows kept from an interval that has just been landed again (a re-landing replaces its
--   interval's raw rows, so the list a row was kept from may be gone).
-- A touched row left without any list comes out holding only its key, so that delete+insert removes
-- it; the post-hook deletes those in the same transaction. The table equals a full rebuild.
{{
    config(
        materialized='incremental',
        unique_key=['trend_hour', 'coin_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['trend_hour', 'coin_id'], 'unique': true},
            {'columns': ['built_xmin']},
            {'columns': ['landed_interval_end']},
        ],
        post_hook=["{{ delete_emptied_rows() }}"],
    )
}}

with

{% if is_incremental() %}
landed as (

    -- list entries committed since the last build's snapshot; the staging view is read, not a CTE,
    -- so Postgres pushes the landed_xid filter down to the raw table's index
    select
        staged.coin_id,
        staged.fetched_at,
        staged.interval_start,
        staged.interval_end
    from {{ ref('stg_coingecko__trending_coins') }} as staged
    where {{ landed_since_watermark('staged.landed_xid') }}

),

{{ touched_keys(['trend_hour', 'coin_id'], landed_keys={'trend_hour': "date_trunc('hour', landed.fetched_at, 'UTC')"}) }},
{% endif %}

listed as (

    select
        listed.coin_id,
        listed.symbol,
        listed.coin_name,
        listed.score,
        listed.position_in_list,
        listed.market_cap_rank,
        listed.price_btc,
        listed.price_usd,
        listed.price_change_percentage_24h_usd,
        listed.fetched_at,
        listed.landing_id,
        listed.landed_at,
        listed.interval_start,
        listed.interval_end,
        date_trunc('hour', listed.fetched_at, 'UTC') as trend_hour
    from {{ ref('stg_coingecko__trending_coins') }} as listed
    {% if is_incremental() %}
        where listed.fetched_at >= (select min(touched.trend_hour) from touched)
    {% endif %}

),

ranked as (

    select
        listed.*,
        row_number() over (
            partition by listed.trend_hour, listed.coin_id
            order by listed.fetched_at desc, listed.landing_id desc
        ) as recency
    from listed

),

latest as (

    select * from ranked
    where recency = 1

),

keys as (

    -- the rows to write (see macro keys_to_write)
    {{ keys_to_write(['trend_hour', 'coin_id']) }}

)

select
    -- ids
    keys.trend_hour,
    keys.coin_id,
    latest.symbol,
    latest.coin_name,
    latest.landing_id,

    -- numbers
    latest.score as trending_score,
    latest.position_in_list as trending_position,
    latest.market_cap_rank,
    latest.price_btc,
    latest.price_usd,
    latest.price_change_percentage_24h_usd,

    -- timestamps
    latest.fetched_at as observed_at,
    latest.landed_at,
    latest.interval_start as landed_interval_start,
    latest.interval_end as landed_interval_end,
    {{ commit_watermark() }} as built_xmin

from keys
left join latest
    on
        keys.trend_hour = latest.trend_hour
        and keys.coin_id = latest.coin_id
