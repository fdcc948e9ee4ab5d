-- One row per landed /global snapshot: the whole market's totals in USD and the BTC/ETH dominance, typed.
-- Observation-level (a time series, every landing kept): marts pick the snapshot they need.
with

source as (

    select * from {{ source('coingecko', 'global') }}

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
        source.body_json -> 'data' as record
    from source

),

renamed as (

    select
        -- ids
        landing_id,
        run_id,

        -- numbers
        ({{ json_text('record', 'active_cryptocurrencies') }})::bigint as active_cryptocurrencies,
        ({{ json_text('record', 'markets') }})::bigint as active_markets,
        ({{ json_text('record', 'upcoming_icos') }})::bigint as upcoming_icos,
        ({{ json_text('record', 'ongoing_icos') }})::bigint as ongoing_icos,
        ({{ json_text('record', 'ended_icos') }})::bigint as ended_icos,
        {{ json_numeric("record -> 'total_market_cap'", 'usd') }} as total_market_cap_usd,
        {{ json_numeric("record -> 'total_volume'", 'usd') }} as total_volume_24h_usd,
        {{ json_numeric("record -> 'market_cap_percentage'", 'btc') }} as btc_dominance_percentage,
        {{ json_numeric("record -> 'market_cap_percentage'", 'eth') }} as eth_dominance_percentage,
        {{ json_numeric('record', 'market_cap_change_percentage_24h_usd') }}
            as market_cap_change_percentage_24h_usd,

        -- timestamps
        -- `updated_at` is UNIX seconds (an integer per the validation rule)
        to_timestamp(({{ json_text('record', 'updated_at') }})::bigint) as updated_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

)

select * from renamed
