{#- The staging of a DEX pair body: spot pairs and pair quotes share one record shape (a pair with its
    `quote[]` list), so both staging models are this query over their own raw table: one row per pair per
    CMC `last_updated`, the USD quote (convert_id 2781), an observation landed more than once kept from
    the latest fetch, EVM addresses lower-cased and base58 ones as sent. -#}
{% macro stg_dex_pair_observations(table_name) %}
with

source as (

    select * from {{ source_or_empty('cmc_dex', table_name) }}

),

records as (

    select
        source.landing_id,
        source.run_id,
        source.page,
        record.ordinality as position_in_page,
        source.request_params ->> 'network_slug' as requested_network_slug,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        record.value as record,
        (
            select quote.value
            from jsonb_array_elements(record.value -> 'quote') with ordinality as quote (value, position)
            where (quote.value ->> 'convert_id')::bigint = 2781
            order by quote.position asc
            limit 1
        ) as quote_usd,
        nullif(trim(record.value ->> 'contract_address'), '') as sent_contract_address,
        nullif(trim(record.value ->> 'base_asset_contract_address'), '') as sent_base_asset_contract_address,
        nullif(trim(record.value ->> 'quote_asset_contract_address'), '') as sent_quote_asset_contract_address
    from source
    cross join lateral jsonb_array_elements(source.body_json -> 'data') with ordinality as record (value, ordinality)

),

renamed as (

    select
        -- ids
        {{ json_text('record', 'network_id') }} as network_id,
        lower(coalesce({{ json_text('record', 'network_slug') }}, requested_network_slug)) as network_slug,
        {{ json_text('record', 'dex_id') }} as dex_id,
        {{ json_text('record', 'dex_slug') }} as dex_slug,
        case
            when sent_contract_address ~ '^0[xX][0-9a-fA-F]+$' then lower(sent_contract_address)
            else sent_contract_address
        end as contract_address,
        {{ json_text('record', 'name') }} as pair_name,
        ({{ json_text('record', 'base_asset_id') }})::bigint as base_asset_id,
        ({{ json_text('record', 'base_asset_ucid') }})::bigint as base_asset_ucid,
        {{ json_text('record', 'base_asset_symbol') }} as base_asset_symbol,
        {{ json_text('record', 'base_asset_name') }} as base_asset_name,
        case
            when sent_base_asset_contract_address ~ '^0[xX][0-9a-fA-F]+$' then lower(sent_base_asset_contract_address)
            else sent_base_asset_contract_address
        end as base_asset_contract_address,
        ({{ json_text('record', 'quote_asset_id') }})::bigint as quote_asset_id,
        ({{ json_text('record', 'quote_asset_ucid') }})::bigint as quote_asset_ucid,
        {{ json_text('record', 'quote_asset_symbol') }} as quote_asset_symbol,
        {{ json_text('record', 'quote_asset_name') }} as quote_asset_name,
        case
            when sent_quote_asset_contract_address ~ '^0[xX][0-9a-fA-F]+$' then lower(sent_quote_asset_contract_address)
            else sent_quote_asset_contract_address
        end as quote_asset_contract_address,
        landing_id,
        run_id,

        -- numbers (USD quote)
        {{ json_numeric('quote_usd', 'price') }} as price_usd,
        {{ json_numeric('quote_usd', 'price_by_quote_asset') }} as price_by_quote_asset,
        {{ json_numeric('quote_usd', 'liquidity') }} as liquidity_usd,
        {{ json_numeric('quote_usd', 'volume_24h') }} as volume_24h_usd,
        ({{ json_text('quote_usd', 'no_of_transactions_24h') }})::bigint as no_of_transactions_24h,
        {{ json_numeric('quote_usd', 'percent_change_price_1h') }} as percent_change_price_1h,
        {{ json_numeric('quote_usd', 'percent_change_price_24h') }} as percent_change_price_24h,
        {{ json_numeric('quote_usd', 'fully_diluted_value') }} as fully_diluted_value_usd,
        page,
        position_in_page,

        -- timestamps
        {{ json_timestamp('record', 'last_updated') }} as last_updated_at,
        {{ json_timestamp('record', 'created_at') }} as created_at,
        {{ json_timestamp('record', 'date_launched') }} as launched_at,
        {{ json_timestamp('quote_usd', 'last_updated') }} as quote_last_updated_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

),

deduplicated as (

    select distinct on (network_id, contract_address, last_updated_at) *
    from renamed
    order by
        network_id asc, contract_address asc, last_updated_at asc,
        fetched_at desc, landing_id desc, position_in_page desc

)

select * from deduplicated
{% endmacro %}
