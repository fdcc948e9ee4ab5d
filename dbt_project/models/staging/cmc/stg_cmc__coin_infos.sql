-- Dimension: one row per CMC id, from the latest fetch of /v2/cryptocurrency/info that describes it.
-- `data` is keyed by id; a value is one record (or, for a request by symbol, a list of records). The
-- contract addresses are unnested in stg_cmc__coin_contracts.
with

source as (

    select * from {{ source_or_empty('cmc', 'cryptocurrency_info') }}

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
        record.value -> 'urls' as urls,
        nullif(trim(record.value -> 'platform' ->> 'token_address'), '') as sent_token_address
    from source
    cross join lateral jsonb_each(source.body_json -> 'data') as entry (key, value)
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(entry.value) = 'array' then entry.value else jsonb_build_array(entry.value) end
    ) as record (value)

),

renamed as (

    select
        -- ids
        ({{ json_text('record', 'id') }})::bigint as cmc_id,
        {{ json_text('record', 'symbol') }} as symbol,
        {{ json_text('record', 'name') }} as coin_name,
        {{ json_text('record', 'slug') }} as slug,
        {{ json_text('record', 'category') }} as category,
        ({{ json_text('platform', 'id') }})::bigint as platform_cmc_id,
        {{ json_text('platform', 'name') }} as platform_name,
        {{ json_text('platform', 'slug') }} as platform_slug,
        case
            when sent_token_address ~ '^0[xX][0-9a-fA-F]+$' then lower(sent_token_address)
            else sent_token_address
        end as token_address,
        landing_id,
        run_id,

        -- descriptions: tags and urls are lists of strings (not checked by the validation rule: anything
        -- but a list gives null)
        case
            when jsonb_typeof(record -> 'tags') = 'array'
                then array(select jsonb_array_elements_text(record -> 'tags'))
        end as tags,
        {{ json_text('record', 'description') }} as description,
        {{ json_text('record', 'logo') }} as logo_url,
        case
            when jsonb_typeof(urls -> 'website') = 'array'
                then array(select jsonb_array_elements_text(urls -> 'website'))
        end as website_urls,
        case
            when jsonb_typeof(urls -> 'technical_doc') = 'array'
                then array(select jsonb_array_elements_text(urls -> 'technical_doc'))
        end as technical_doc_urls,
        case
            when jsonb_typeof(urls -> 'explorer') = 'array'
                then array(select jsonb_array_elements_text(urls -> 'explorer'))
        end as explorer_urls,
        case
            when jsonb_typeof(urls -> 'source_code') = 'array'
                then array(select jsonb_array_elements_text(urls -> 'source_code'))
        end as source_code_urls,
        case
            when jsonb_typeof(urls -> 'twitter') = 'array'
                then array(select jsonb_array_elements_text(urls -> 'twitter'))
        end as twitter_urls,
        case
            when jsonb_typeof(urls -> 'reddit') = 'array'
                then array(select jsonb_array_elements_text(urls -> 'reddit'))
        end as reddit_urls,

        -- numbers
        ({{ json_text('record', 'is_hidden') }})::bigint = 1 as is_hidden,
        {{ json_numeric('record', 'self_reported_circulating_supply') }} as self_reported_circulating_supply,
        {{ json_numeric('record', 'self_reported_market_cap') }} as self_reported_market_cap_usd,

        -- timestamps
        {{ json_timestamp('record', 'date_added') }} as added_at,
        {{ json_timestamp('record', 'date_launched') }} as launched_at,
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
