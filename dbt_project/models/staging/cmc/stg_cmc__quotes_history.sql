-- Observations: one row per CMC coin per hour of CMC's hourly price history, from every landed
-- /v2/cryptocurrency/quotes/historical body (USD quote). For each hour boundary the API returns the
-- sample closest after it (`timestamp`, a few seconds past the boundary) and skips boundaries without
-- data. `data` is the bare coin object when the call named one id, a map keyed by id when it named
-- several (up to 100): both are read.
--
-- The request's `time_start` and `time_end` are both inclusive, so back-to-back bodies share the sample
-- of the boundary between them: a sample is kept only from a landing whose data interval holds its time
-- (interval_start <= timestamp < interval_end), so it belongs to the later interval. Two landings'
-- samples of the same coin and hour (overlapping intervals, fetched at different times: the sample's
-- seconds may differ) are one point, kept from the latest fetch.
--
-- fct_cmc_price_hourly reads the raw table itself with the same rules (macro cmc_quotes_history_points),
-- so that its watermark filters reach the raw table's indexes through no DISTINCT ON.
with

points as (

    {{ cmc_quotes_history_points('source') }}

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
        {{ json_numeric('quote_usd', 'price') }} as price_usd,
        {{ json_numeric('quote_usd', 'market_cap') }} as market_cap_usd,
        {{ cmc_quote_volume_24h('quote_usd') }} as volume_24h_usd,
        {{ json_numeric('quote_usd', 'circulating_supply') }} as circulating_supply,
        {{ json_numeric('quote_usd', 'total_supply') }} as total_supply,
        position_in_coin,

        -- timestamps
        observed_at,
        quote_hour,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from in_interval

),

deduplicated as (

    select distinct on (cmc_id, quote_hour) *
    from renamed
    order by cmc_id asc, quote_hour asc, fetched_at desc, landing_id desc, observed_at desc

)

select * from deduplicated
