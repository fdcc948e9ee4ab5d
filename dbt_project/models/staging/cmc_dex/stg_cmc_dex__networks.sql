-- Dimension: one row per DEX network (chain), from the latest fetch of /v4/dex/networks/list that lists
-- it. The id is text, as DEX ids are everywhere else (a pair's `network_id` is a string of digits); the
-- slug is lower-cased (its casing is not guaranteed).
with

source as (

    select * from {{ source_or_empty('cmc_dex', 'networks_list') }}

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
        record.value as record
    from source
    cross join lateral jsonb_array_elements(source.body_json -> 'data') as record (value)

),

renamed as (

    select
        -- ids
        {{ json_text('record', 'id') }} as network_id,
        {{ json_text('record', 'name') }} as network_name,
        lower({{ json_text('record', 'network_slug') }}) as network_slug,
        ({{ json_text('record', 'cryptocurrencyId') }})::bigint as native_cmc_id,
        {{ json_text('record', 'cryptocurrencySlug') }} as native_slug,
        {{ json_text('record', 'alternativeName') }} as native_symbol,
        ({{ json_text('record', 'wrappedTokenId') }})::bigint as wrapped_token_cmc_id,
        {{ json_text('record', 'wrappedTokenSlug') }} as wrapped_token_slug,
        landing_id,
        run_id,

        -- explorers
        {{ json_text('record', 'tokenExplorerUrl') }} as token_explorer_url,
        {{ json_text('record', 'poolExplorerUrl') }} as pool_explorer_url,
        {{ json_text('record', 'transactionHashUrl') }} as transaction_explorer_url,

        -- timestamps
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

),

latest as (

    select distinct on (network_id) *
    from renamed
    order by network_id asc, fetched_at desc, landing_id desc

)

select * from latest
