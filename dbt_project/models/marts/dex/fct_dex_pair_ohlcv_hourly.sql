-- One row per DEX pair per hourly candle (its `time_open`): open, high, low, close and volume in USD.
-- Consecutive runs of pairs/ohlcv/historical overlap by one candle on purpose (no gap between them),
-- and a re-run lands its candles again: each candle appears once, from the latest fetch (the later
-- fetch has the candle complete). History windows (long intervals, `time_start`/`time_end`) land in the
-- same raw table; stg_cmc_dex__pair_ohlcv counts a window's candle only inside its data interval, so a
-- candle belongs to the window whose interval holds it, and a re-landed window recomputes the candles
-- kept from it (below).
--
-- Incremental (the commit-ordered watermark of macro commit_watermark): a run recomputes only the
-- candles touched since the snapshot the last build read, reading staging only from the earliest such
-- candle on:
-- - the candles committed since then;
-- - the candles kept from an interval that has just been landed again (a re-landing replaces its
--   interval's raw rows, so the fetch a candle was kept from may be gone).
-- A touched candle left without any fetch comes out holding only its key, so that delete+insert
-- removes it; the post-hook deletes those in the same transaction. The table equals a full rebuild.
-- (stg_cmc_dex__pair_ohlcv deduplicates with DISTINCT ON the candle's key, through which Postgres pushes
-- neither the landed_xid filter nor a fetched_at one: it is computed whole each run, so a run's cost grows
-- with the raw table's history until staging exposes its rows before the dedupe.)
{{
    config(
        materialized='incremental',
        unique_key=['network_id', 'contract_address', 'candle_hour'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['network_id', 'contract_address', 'candle_hour'], 'unique': true},
            {'columns': ['built_xmin']},
            {'columns': ['landed_interval_end']},
        ],
        post_hook=["{{ delete_emptied_rows() }}"],
    )
}}

with

{% if is_incremental() %}
landed as (

    -- candles committed since the last build's snapshot
    select
        staged.network_id,
        staged.contract_address,
        staged.time_open as candle_hour,
        staged.interval_start,
        staged.interval_end
    from {{ ref('stg_cmc_dex__pair_ohlcv') }} as staged
    where {{ landed_since_watermark('staged.landed_xid') }}

),

{{ touched_keys(['network_id', 'contract_address', 'candle_hour']) }},
{% endif %}

candles as (

    select
        candles.network_id,
        candles.contract_address,
        candles.time_open as candle_hour,
        candles.open_usd,
        candles.high_usd,
        candles.low_usd,
        candles.close_usd,
        candles.volume_usd,
        candles.fetched_at,
        candles.landing_id,
        candles.landed_at,
        candles.interval_start,
        candles.interval_end
    from {{ ref('stg_cmc_dex__pair_ohlcv') }} as candles
    {% if is_incremental() %}
        where candles.time_open >= (select min(touched.candle_hour) from touched)
    {% endif %}

),

ranked as (

    -- the overlapping candle of two consecutive runs, or a re-run's: the latest fetch wins
    select
        candles.*,
        row_number() over (
            partition by candles.network_id, candles.contract_address, candles.candle_hour
            order by candles.fetched_at desc, candles.landing_id desc
        ) as recency
    from candles

),

latest as (

    select * from ranked
    where recency = 1

),

keys as (

    -- the rows to write (see macro keys_to_write)
    {{ keys_to_write(['network_id', 'contract_address', 'candle_hour']) }}

)

select
    -- ids
    keys.network_id,
    keys.contract_address,
    latest.landing_id,

    -- numbers (USD)
    latest.open_usd,
    latest.high_usd,
    latest.low_usd,
    latest.close_usd,
    latest.volume_usd,

    -- timestamps
    keys.candle_hour,
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
        and keys.candle_hour = latest.candle_hour
