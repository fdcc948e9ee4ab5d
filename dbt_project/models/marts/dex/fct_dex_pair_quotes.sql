-- One row per DEX pair per observation (CMC DEX's `last_updated` of the pair's USD quote): price,
-- liquidity, 24 h volume and transactions. Both endpoints that quote pairs feed it: pairs/quotes/latest
-- (the top pairs of each network, every 15 minutes) and spot-pairs/latest (every listed pair, every 6
-- hours). An observation both carry, or one landed more than once, is kept once: from the latest
-- fetch, then from pairs/quotes/latest.
--
-- Incremental (the commit-ordered watermark of macro commit_watermark): a run recomputes only the
-- observations touched since the snapshot the last build read, reading staging only from the
-- earliest such observation time on:
-- - the observations committed since then;
-- - the observations kept from an interval of the same endpoint that has just been landed again (a
--   re-landing replaces its interval's raw rows, so the observation may be gone).
-- A touched observation left without any source row comes out holding only its key, so that
-- delete+insert removes it; the post-hook deletes those in the same transaction. The table equals a
-- full rebuild. (Both staging views deduplicate with DISTINCT ON the observation's key, through which
-- Postgres pushes neither the landed_xid filter nor a fetched_at one: they are computed whole each run, so
-- a run's cost grows with the raw tables' history until staging exposes its rows before the dedupe.)
{{
    config(
        materialized='incremental',
        unique_key=['network_id', 'contract_address', 'observed_at'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['network_id', 'contract_address', 'observed_at'], 'unique': true},
            {'columns': ['built_xmin']},
            {'columns': ['landed_interval_end']},
        ],
        post_hook=["{{ delete_emptied_rows() }}"],
    )
}}

with

{% if is_incremental() %}
landed as (

    -- observations committed since the last build's snapshot
    select
        'pairs_quotes_latest'::text as source_endpoint,
        staged.network_id,
        staged.contract_address,
        staged.last_updated_at as observed_at,
        staged.interval_start,
        staged.interval_end
    from {{ ref('stg_cmc_dex__pair_quotes') }} as staged
    where {{ landed_since_watermark('staged.landed_xid') }}

    union all

    select
        'spot_pairs_latest'::text as source_endpoint,
        staged.network_id,
        staged.contract_address,
        staged.last_updated_at as observed_at,
        staged.interval_start,
        staged.interval_end
    from {{ ref('stg_cmc_dex__spot_pairs') }} as staged
    where {{ landed_since_watermark('staged.landed_xid') }}

),

{{ touched_keys(['network_id', 'contract_address', 'observed_at'], match='source_endpoint') }},
{% endif %}

observations as (

    select
        'pairs_quotes_latest'::text as source_endpoint,
        1 as endpoint_preference,
        quotes.network_id,
        quotes.contract_address,
        quotes.last_updated_at as observed_at,
        quotes.price_usd,
        quotes.price_by_quote_asset,
        quotes.liquidity_usd,
        quotes.volume_24h_usd,
        quotes.no_of_transactions_24h,
        quotes.percent_change_price_1h,
        quotes.percent_change_price_24h,
        quotes.fully_diluted_value_usd,
        quotes.fetched_at,
        quotes.landing_id,
        quotes.landed_at,
        quotes.interval_start,
        quotes.interval_end
    from {{ ref('stg_cmc_dex__pair_quotes') }} as quotes
    {% if is_incremental() %}
        where quotes.last_updated_at >= (select min(touched.observed_at) from touched)
    {% endif %}

    union all

    select
        'spot_pairs_latest'::text as source_endpoint,
        2 as endpoint_preference,
        spot.network_id,
        spot.contract_address,
        spot.last_updated_at as observed_at,
        spot.price_usd,
        spot.price_by_quote_asset,
        spot.liquidity_usd,
        spot.volume_24h_usd,
        spot.no_of_transactions_24h,
        spot.percent_change_price_1h,
        spot.percent_change_price_24h,
        spot.fully_diluted_value_usd,
        spot.fetched_at,
        spot.landing_id,
        spot.landed_at,
        spot.interval_start,
        spot.interval_end
    from {{ ref('stg_cmc_dex__spot_pairs') }} as spot
    {% if is_incremental() %}
        where spot.last_updated_at >= (select min(touched.observed_at) from touched)
    {% endif %}

),

ranked as (

    select
        observations.*,
        row_number() over (
            partition by observations.network_id, observations.contract_address, observations.observed_at
            order by
                observations.fetched_at desc, observations.endpoint_preference asc,
                observations.landing_id desc
        ) as recency
    from observations

),

latest as (

    select * from ranked
    where recency = 1

),

keys as (

    -- the rows to write (see macro keys_to_write)
    {{ keys_to_write(['network_id', 'contract_address', 'observed_at']) }}

)

select
    -- ids
    keys.network_id,
    keys.contract_address,
    latest.source_endpoint,
    latest.landing_id,

    -- numbers (USD)
    latest.price_usd,
    latest.price_by_quote_asset,
    latest.liquidity_usd,
    latest.volume_24h_usd,
    latest.no_of_transactions_24h as transactions_24h,
    latest.percent_change_price_1h as price_change_1h_pct,
    latest.percent_change_price_24h as price_change_24h_pct,
    latest.fully_diluted_value_usd,

    -- timestamps
    keys.observed_at,
    latest.fetched_at,
    latest.landed_at,
    latest.interval_start as landed_interval_start,
    latest.interval_end as landed_interval_end,
    {{ commit_watermark() }} as built_xmin

from keys
left join latest
    on
        keys.network_id = latest.network_id
        and keys.contract_address = latest.contract_address
        and keys.observed_at = latest.observed_at
