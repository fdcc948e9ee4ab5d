-- One row per asset per UTC day of CoinGecko's community sentiment (`/coins/{id}`): the share of
-- users' votes that were up and down, from the day's latest fetch of the coin (`fetched_at`: the
-- votes carry no timestamp of their own). A coin without votes keeps its row, with null shares.
--
-- Incremental (the commit-ordered watermark of macro commit_watermark): a run recomputes only the
-- (asset, day) rows touched since the snapshot the last build read, reading staging only from fetches
-- of the earliest such day on (the raw table's fetched_at index):
-- - the rows of fetches committed since then;
-- - the rows kept from an interval that has just been landed again (a re-landing replaces its
--   interval's raw rows, so the fetch a row was kept from may be gone).
-- A touched row left without any fetch comes out holding only its key, so that delete+insert removes
-- it; the post-hook deletes those in the same transaction. The table equals a full rebuild.
{{
    config(
        materialized='incremental',
        unique_key=['asset_id', 'vote_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['asset_id', 'vote_date'], 'unique': true},
            {'columns': ['built_xmin']},
            {'columns': ['landed_interval_end']},
        ],
        post_hook=["{{ delete_emptied_rows() }}"],
    )
}}

with

{% if is_incremental() %}
landed as (

    -- fetches committed since the last build's snapshot; the staging view is read, not a CTE, so
    -- Postgres pushes the landed_xid filter down to the raw table's index
    select
        staged.coin_id,
        staged.fetched_date,
        staged.interval_start,
        staged.interval_end
    from {{ ref('stg_coingecko__coin_details') }} as staged
    where {{ landed_since_watermark('staged.landed_xid') }}

),

{{ touched_keys(['asset_id', 'vote_date'], landed_keys={'asset_id': 'landed.coin_id', 'vote_date': 'landed.fetched_date'}) }},
{% endif %}

fetches as (

    select
        fetches.coin_id as asset_id,
        fetches.fetched_date as vote_date,
        fetches.sentiment_votes_up_percentage,
        fetches.sentiment_votes_down_percentage,
        fetches.watchlist_portfolio_users,
        fetches.fetched_at,
        fetches.landing_id,
        fetches.landed_at,
        fetches.interval_start,
        fetches.interval_end
    from {{ ref('stg_coingecko__coin_details') }} as fetches
    {% if is_incremental() %}
        where
            fetches.fetched_at
            >= (select min(touched.vote_date) from touched)::timestamp at time zone 'UTC'
    {% endif %}

),

ranked as (

    select
        fetches.*,
        row_number() over (
            partition by fetches.asset_id, fetches.vote_date
            order by fetches.fetched_at desc, fetches.landing_id desc
        ) as recency
    from fetches

),

latest as (

    select * from ranked
    where recency = 1

),

keys as (

    -- the rows to write (see macro keys_to_write)
    {{ keys_to_write(['asset_id', 'vote_date']) }}

)

select
    -- ids
    keys.asset_id,
    keys.vote_date,
    latest.landing_id,

    -- numbers
    latest.sentiment_votes_up_percentage as votes_up_pct,
    latest.sentiment_votes_down_percentage as votes_down_pct,
    latest.watchlist_portfolio_users,

    -- timestamps
    latest.fetched_at as observed_at,
    latest.landed_at,
    latest.interval_start as landed_interval_start,
    latest.interval_end as landed_interval_end,
    {{ commit_watermark() }} as built_xmin

from keys
left join latest
    on
        keys.asset_id = latest.asset_id
        and keys.vote_date = latest.vote_date
