-- One row per coin per landed /coins/markets page: the record's fields typed and renamed, with the
-- request and interval it came from.
with

source as (

    select * from {{ source('coingecko', 'coins_markets') }}

),

records as (

    select
        source.landing_id,
        source.run_id,
        source.page,
        record.ordinality as position_in_page,
        source.request_params ->> 'vs_currency' as vs_currency,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        record.value as record
    from source
    cross join lateral jsonb_array_elements(source.body_json) with ordinality as record (value, ordinality)

),

renamed as (

    select
        -- ids
        {{ json_text('record', 'id') }} as coin_id,
        lower({{ json_text('record', 'symbol') }}) as symbol,
        {{ json_text('record', 'name') }} as coin_name,
        landing_id,
        run_id,

        -- numbers
        ({{ json_text('record', 'market_cap_rank') }})::integer as market_cap_rank,
        {{ json_numeric('record', 'current_price') }} as price,
        {{ json_numeric('record', 'market_cap') }} as market_cap,
        {{ json_numeric('record', 'total_volume') }} as volume_24h,
        {{ json_numeric('record', 'high_24h') }} as high_24h,
        {{ json_numeric('record', 'low_24h') }} as low_24h,
        {{ json_numeric('record', 'circulating_supply') }} as circulating_supply,
        {{ json_numeric('record', 'total_supply') }} as total_supply,
        {{ json_numeric('record', 'max_supply') }} as max_supply,
        vs_currency,
        page,
        position_in_page,

        -- timestamps
        {{ json_timestamp('record', 'last_updated') }} as last_updated_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

)

select * from renamed
