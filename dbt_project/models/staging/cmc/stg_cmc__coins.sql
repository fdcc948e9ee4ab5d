-- Dimension: one row per CMC id, from the latest fetch of /v1/cryptocurrency/map that lists it (the map
-- lists active coins, so a coin no longer listed keeps the row of its last listing; `is_active` says
-- what that listing said).
with

source as (

    select * from {{ source_or_empty('cmc', 'cryptocurrency_map') }}

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
        record.value as record,
        record.value -> 'platform' as platform,
        nullif(trim(record.value -> 'platform' ->> 'token_address'), '') as sent_token_address
    from source
    cross join lateral jsonb_array_elements(source.body_json -> 'data') as record (value)

),

renamed as (

    select
        -- ids
        ({{ json_text('record', 'id') }})::bigint as cmc_id,
        {{ json_text('record', 'symbol') }} as symbol,
        {{ json_text('record', 'name') }} as coin_name,
        {{ json_text('record', 'slug') }} as slug,
        ({{ json_text('platform', 'id') }})::bigint as platform_cmc_id,
        {{ json_text('platform', 'name') }} as platform_name,
        {{ json_text('platform', 'slug') }} as platform_slug,
        case
            when sent_token_address ~ '^0[xX][0-9a-fA-F]+$' then lower(sent_token_address)
            else sent_token_address
        end as token_address,
        landing_id,
        run_id,

        -- numbers
        ({{ json_text('record', 'rank') }})::bigint as cmc_rank,
        ({{ json_text('record', 'is_active') }})::bigint = 1 as is_active,

        -- timestamps
        {{ json_timestamp('record', 'first_historical_data') }} as first_historical_data_at,
        {{ json_timestamp('record', 'last_historical_data') }} as last_historical_data_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

),

latest as (

    select distinct on (cmc_id) *
    from renamed
    order by cmc_id asc, fetched_at desc, landing_id desc

)

select * from latest
