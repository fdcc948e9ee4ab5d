-- Observations: one row per CMC coin per hourly candle of CMC's OHLCV history, from every landed
-- /v2/cryptocurrency/ohlcv/historical body (USD quote; CMC's Startup plan and up: on Basic the history DAG
-- is skipped and this view is empty). `data` has the shapes of quotes/historical (macro
-- cmc_quotes_history_points); a candle is filed under its opening hour (`time_open`).
--
-- A candle is kept only from a landing whose data interval holds its opening time (interval_start <=
-- time_open < interval_end); where two landings hold it, from the latest fetch.
with

points as (

    {{ cmc_quotes_history_points('source', table='cryptocurrency_ohlcv_historical', time_field='time_open') }}

),

in_interval as (

    select points.*
    from points
    where
        points.observed_at >= points.interval_start
        and points.observed_at < points.interval_end

),

renamed as (

    select
        -- ids
        cmc_id,
        symbol,
        coin_name,
        landing_id,
        run_id,

        -- numbers (USD)
        {{ json_numeric('quote_usd', 'open') }} as open_usd,
        {{ json_numeric('quote_usd', 'high') }} as high_usd,
        {{ json_numeric('quote_usd', 'low') }} as low_usd,
        {{ json_numeric('quote_usd', 'close') }} as close_usd,
        {{ json_numeric('quote_usd', 'volume') }} as volume_usd,
        {{ json_numeric('quote_usd', 'market_cap') }} as market_cap_usd,

        -- timestamps
        quote_hour as candle_hour,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from in_interval

),

deduplicated as (

    select distinct on (cmc_id, candle_hour) *
    from renamed
    order by cmc_id asc, candle_hour asc, fetched_at desc, landing_id desc

)

select * from deduplicated
