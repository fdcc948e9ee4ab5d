-- One row per exchange (`/exchanges`): the latest fetch of each exchange id, by fetched_at then landing_id,
-- so an exchange missing from the newest listing keeps its last-seen row. Dimension (no history here:
-- marts that need the 24 h volume over time read the raw table's landings).
with

source as (

    select * from {{ source('coingecko', 'exchanges') }}

),

records as (

    select
        source.landing_id,
        source.run_id,
        source.page,
        record.ordinality as position_in_page,
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
        lower(trim({{ json_text('record', 'id') }})) as exchange_id,
        trim({{ json_text('record', 'name') }}) as exchange_name,
        landing_id,
        run_id,

        -- strings
        nullif(trim({{ json_text('record', 'country') }}), '') as country,
        nullif(trim({{ json_text('record', 'url') }}), '') as url,
        nullif(trim({{ json_text('record', 'image') }}), '') as image_url,

        -- numbers
        ({{ json_text('record', 'trust_score') }})::bigint as trust_score,
        ({{ json_text('record', 'trust_score_rank') }})::bigint as trust_score_rank,
        ({{ json_text('record', 'year_established') }})::bigint as year_established,
        {{ json_numeric('record', 'trade_volume_24h_btc') }} as trade_volume_24h_btc,
        {{ json_numeric('record', 'trade_volume_24h_btc_normalized') }} as trade_volume_24h_btc_normalized,
        page,
        position_in_page,

        -- timestamps
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

),

latest as (

    select distinct on (exchange_id) *
    from renamed
    order by exchange_id asc, fetched_at desc, landing_id desc

)

select * from latest
