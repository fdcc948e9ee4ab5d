-- Observations: one row per whole-market snapshot of CMC's hourly history (its `timestamp`, an hour
-- boundary), from every landed /v1/global-metrics/quotes/historical body (`data.quotes[]`). The request's
-- `time_start` and `time_end` are both inclusive, so the boundary at the interval's end is in two
-- back-to-back bodies: a snapshot is kept only from a landing whose data interval holds it
-- (interval_start <= timestamp < interval_end), and one that two landings hold (overlapping intervals) is
-- kept from the latest fetch. Amounts are in USD (the request's `convert`); dominance is a percentage.
with

source as (

    select * from {{ source_or_empty('cmc', 'global_metrics_quotes_historical') }}

),

records as (

    select
        source.landing_id,
        source.run_id,
        record.ordinality as position_in_body,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        record.value as record,
        record.value -> 'quote' -> 'USD' as quote_usd,
        {{ json_timestamp('record.value', 'timestamp') }} as observed_at
    from source
    cross join lateral jsonb_array_elements(source.body_json -> 'data' -> 'quotes')
        with ordinality as record (value, ordinality)

),

in_interval as (

    select records.*
    from records
    where
        records.observed_at >= records.interval_start
        and records.observed_at < records.interval_end

),

renamed as (

    select
        -- ids
        landing_id,
        run_id,

        -- numbers: dominance
        {{ json_numeric('record', 'btc_dominance') }} as btc_dominance_pct,
        {{ json_numeric('record', 'eth_dominance') }} as eth_dominance_pct,

        -- numbers: counts
        ({{ json_text('record', 'active_cryptocurrencies') }})::bigint as active_cryptocurrencies,
        ({{ json_text('record', 'active_market_pairs') }})::bigint as active_market_pairs,
        ({{ json_text('record', 'active_exchanges') }})::bigint as active_exchanges,

        -- numbers: USD amounts
        {{ json_numeric('quote_usd', 'total_market_cap') }} as total_market_cap_usd,
        {{ json_numeric('quote_usd', 'total_volume_24h') }} as total_volume_24h_usd,
        {{ json_numeric('quote_usd', 'total_volume_24h_reported') }} as total_volume_24h_reported_usd,
        {{ json_numeric('quote_usd', 'altcoin_market_cap') }} as altcoin_market_cap_usd,
        {{ json_numeric('quote_usd', 'altcoin_volume_24h') }} as altcoin_volume_24h_usd,
        {{ json_numeric('quote_usd', 'altcoin_volume_24h_reported') }} as altcoin_volume_24h_reported_usd,
        position_in_body,

        -- timestamps
        observed_at,
        {{ json_timestamp('quote_usd', 'timestamp') }} as quote_timestamp,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from in_interval

),

deduplicated as (

    select distinct on (observed_at) *
    from renamed
    order by observed_at asc, fetched_at desc, landing_id desc, position_in_body desc

)

select * from deduplicated
