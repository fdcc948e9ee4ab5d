-- Dimension: one row per CMC id, platform and contract address, from the latest fetch of
-- /v2/cryptocurrency/info that describes the coin (its `contract_address[]` list: a token's address on
-- each chain it lives on). Addresses are trimmed; hexadecimal (EVM) ones lower-cased, since their case is
-- only a checksum; any other (Solana's base58, where case is part of the address) kept as sent: the form
-- the CoinGecko staging models use, so addresses join across sources. An EVM address listed twice in two
-- casings is kept once.
with

source as (

    select * from {{ source_or_empty('cmc', 'cryptocurrency_info') }}

),

records as (

    select
        source.landing_id,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        (record.value ->> 'id')::bigint as cmc_id,
        record.value -> 'contract_address' as contracts
    from source
    cross join lateral jsonb_each(source.body_json -> 'data') as entry (key, value)
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(entry.value) = 'array' then entry.value else jsonb_build_array(entry.value) end
    ) as record (value)

),

latest_records as (

    select distinct on (cmc_id) *
    from records
    order by cmc_id asc, fetched_at desc, landing_id desc

),

contracts as (

    select
        latest_records.*,
        contract.value as contract,
        contract.value -> 'platform' as platform,
        contract.value -> 'platform' -> 'coin' as platform_coin,
        nullif(trim(contract.value ->> 'contract_address'), '') as sent_contract_address
    from latest_records
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(latest_records.contracts) = 'array' then latest_records.contracts end
    ) as contract (value)

),

renamed as (

    select
        -- ids
        cmc_id,
        ({{ json_text('platform_coin', 'id') }})::bigint as platform_cmc_id,
        {{ json_text('platform', 'name') }} as platform_name,
        {{ json_text('platform_coin', 'slug') }} as platform_slug,
        {{ json_text('platform_coin', 'symbol') }} as platform_symbol,
        case
            when sent_contract_address ~ '^0[xX][0-9a-fA-F]+$' then lower(sent_contract_address)
            else sent_contract_address
        end as contract_address,
        landing_id,

        -- timestamps
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from contracts

),

deduplicated as (

    select distinct on (cmc_id, platform_cmc_id, contract_address) *
    from renamed
    order by cmc_id asc, platform_cmc_id asc, contract_address asc

)

select * from deduplicated
