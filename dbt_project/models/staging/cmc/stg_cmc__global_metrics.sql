-- Observations: one row per whole-market snapshot (CMC's `last_updated`, refreshed every 5 minutes),
-- from every landed /v1/global-metrics/quotes/latest body; a snapshot landed more than once is kept from
-- the latest fetch. Amounts are in USD (the request's `convert`); dominance is a percentage (0-100).
with

source as (

    select * from {{ source_or_empty('cmc', 'global_metrics_quotes_latest') }}

),

records as (

    select
        source.landing_id,
        source.run_id,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        source.body_json -> 'data' as record,
        source.body_json -> 'data' -> 'quote' -> 'USD' as quote_usd
    from source

),

renamed as (

    select
        -- ids
        landing_id,
        run_id,

        -- numbers: dominance
        {{ json_numeric('record', 'btc_dominance') }} as btc_dominance_pct,
        {{ json_numeric('record', 'eth_dominance') }} as eth_dominance_pct,
        {{ json_numeric('record', 'btc_dominance_yesterday') }} as btc_dominance_yesterday_pct,
        {{ json_numeric('record', 'eth_dominance_yesterday') }} as eth_dominance_yesterday_pct,
        {{ json_numeric('record', 'btc_dominance_24h_percentage_change') }} as btc_dominance_change_24h_pct,
        {{ json_numeric('record', 'eth_dominance_24h_percentage_change') }} as eth_dominance_change_24h_pct,

        -- numbers: counts
        ({{ json_text('record', 'active_cryptocurrencies') }})::bigint as active_cryptocurrencies,
        ({{ json_text('record', 'total_cryptocurrencies') }})::bigint as total_cryptocurrencies,
        ({{ json_text('record', 'active_market_pairs') }})::bigint as active_market_pairs,
        ({{ json_text('record', 'active_exchanges') }})::bigint as active_exchanges,
        ({{ json_text('record', 'total_exchanges') }})::bigint as total_exchanges,

        -- numbers: USD amounts
        {{ json_numeric('quote_usd', 'total_market_cap') }} as total_market_cap_usd,
        {{ json_numeric('quote_usd', 'total_volume_24h') }} as total_volume_24h_usd,
        {{ json_numeric('quote_usd', 'total_volume_24h_reported') }} as total_volume_24h_reported_usd,
        {{ json_numeric('quote_usd', 'altcoin_market_cap') }} as altcoin_market_cap_usd,
        {{ json_numeric('quote_usd', 'altcoin_volume_24h') }} as altcoin_volume_24h_usd,
        {{ json_numeric('quote_usd', 'altcoin_volume_24h_reported') }} as altcoin_volume_24h_reported_usd,
        {{ json_numeric('quote_usd', 'total_market_cap_yesterday') }} as total_market_cap_yesterday_usd,
        {{ json_numeric('quote_usd', 'total_volume_24h_yesterday') }} as total_volume_24h_yesterday_usd,
        {{ json_numeric('quote_usd', 'total_market_cap_yesterday_percentage_change') }}
            as total_market_cap_change_24h_pct,
        {{ json_numeric('quote_usd', 'total_volume_24h_yesterday_percentage_change') }}
            as total_volume_change_24h_pct,
        {{ json_numeric('record', 'defi_volume_24h') }} as defi_volume_24h_usd,
        {{ json_numeric('record', 'stablecoin_volume_24h') }} as stablecoin_volume_24h_usd,
        {{ json_numeric('record', 'derivatives_volume_24h') }} as derivatives_volume_24h_usd,

        -- timestamps
        {{ json_timestamp('record', 'last_updated') }} as last_updated_at,
        {{ json_timestamp('quote_usd', 'last_updated') }} as quote_last_updated_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

),

deduplicated as (

    select distinct on (last_updated_at) *
    from renamed
    order by last_updated_at asc, fetched_at desc, landing_id desc

)

select * from deduplicated
