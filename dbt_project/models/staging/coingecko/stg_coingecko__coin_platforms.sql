-- One row per (coin, platform) of each coin's latest `/coins/list` fetch (the record
-- stg_coingecko__coins keeps): where the coin lives as a token and its contract address there. A native
-- coin has no platform and no row. Dimension, like stg_coingecko__coins.
--
-- Addresses: trimmed, empty to null; hexadecimal (EVM) addresses lower-cased, since their case is only a
-- checksum; any other address (Solana, Tron: base58, where case is part of the address) is kept as sent.
with

source as (

    select * from {{ source('coingecko', 'coins_list') }}

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
        lower(trim(record.value ->> 'id')) as coin_id,
        record.value -> 'platforms' as platforms
    from source
    cross join lateral jsonb_array_elements(source.body_json) as record (value)

),

latest as (

    select distinct on (coin_id) *
    from records
    order by coin_id asc, fetched_at desc, landing_id desc

),

platforms as (

    select
        latest.*,
        nullif(lower(trim(platform.key)), '') as platform,
        nullif(trim(platform.value), '') as contract_address
    from latest
    -- `platforms` is not checked by the validation rule: anything but an object counts as no platform
    cross join lateral jsonb_each_text(
        case when jsonb_typeof(latest.platforms) = 'object' then latest.platforms else '{}'::jsonb end
    ) as platform (key, value)

),

renamed as (

    select
        -- ids
        coin_id,
        platform,
        case
            when contract_address ~ '^0[xX][0-9a-fA-F]+$' then lower(contract_address)
            else contract_address
        end as contract_address,
        landing_id,
        run_id,

        -- timestamps
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from platforms
    -- CoinGecko writes "no platform" as {"": ""}
    where platform is not null

)

select * from renamed
