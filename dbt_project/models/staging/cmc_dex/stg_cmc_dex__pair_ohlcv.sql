-- Observations: one row per pair per hourly candle (its `time_open`), from every landed
-- /v4/dex/pairs/ohlcv/historical body, with the USD figures (the candle's `quote[]` element whose
-- convert_id is 2781). Two kinds of landing share the raw table:
-- - the live DAG's (`count` only: the latest candles): consecutive runs overlap by one candle on purpose
--   (no gap between them; the later run has the candle complete), so all its candles count;
-- - a history window's (the request names `time_start` and/or `time_end`, both inclusive at the API, up to
--   ~20 days of candles): a candle counts only from the landing whose data interval holds it
--   (interval_start <= time_open < interval_end), so the candle at `time_end`, which the next window
--   holds too, belongs to the later interval, and a candle outside the window's interval never stands
--   for it.
-- Each (network, contract address, time_open) is kept once, from the latest fetch of those; a re-landed
-- interval replaces its raw rows, so its candles are replaced. Addresses: hexadecimal (EVM) ones
-- lower-cased, others (base58) as sent.
with

source as (

    select * from {{ source_or_empty('cmc_dex', 'pairs_ohlcv_historical') }}

),

pairs as (

    select
        source.landing_id,
        source.run_id,
        source.request_params ->> 'network_slug' as requested_network_slug,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        source.request_params ? 'time_start' or source.request_params ? 'time_end' as is_window,
        pair.value as pair
    from source
    cross join lateral jsonb_array_elements(source.body_json -> 'data') as pair (value)

),

candles as (

    select
        pairs.*,
        candle.value as candle,
        (
            select quote.value
            from jsonb_array_elements(
                case when jsonb_typeof(candle.value -> 'quote') = 'array' then candle.value -> 'quote' end
            ) with ordinality as quote (value, position)
            where (quote.value ->> 'convert_id')::bigint = 2781
            order by quote.position asc
            limit 1
        ) as quote_usd,
        nullif(trim(pairs.pair ->> 'contract_address'), '') as sent_contract_address
    from pairs
    cross join lateral jsonb_array_elements(pairs.pair -> 'quotes') as candle (value)

),

counted as (

    -- a history window's candle only inside its data interval; the live landings' every candle
    select candles.*
    from candles
    where
        not candles.is_window
        or (
            {{ json_timestamp('candles.candle', 'time_open') }} >= candles.interval_start
            and {{ json_timestamp('candles.candle', 'time_open') }} < candles.interval_end
        )

),

renamed as (

    select
        -- ids
        {{ json_text('pair', 'network_id') }} as network_id,
        lower(coalesce({{ json_text('pair', 'network_slug') }}, requested_network_slug)) as network_slug,
        {{ json_text('pair', 'dex_id') }} as dex_id,
        {{ json_text('pair', 'dex_slug') }} as dex_slug,
        case
            when sent_contract_address ~ '^0[xX][0-9a-fA-F]+$' then lower(sent_contract_address)
            else sent_contract_address
        end as contract_address,
        {{ json_text('pair', 'name') }} as pair_name,
        {{ json_text('pair', 'base_asset_symbol') }} as base_asset_symbol,
        {{ json_text('pair', 'quote_asset_symbol') }} as quote_asset_symbol,
        landing_id,
        run_id,

        -- numbers (USD)
        {{ json_numeric('quote_usd', 'open') }} as open_usd,
        {{ json_numeric('quote_usd', 'high') }} as high_usd,
        {{ json_numeric('quote_usd', 'low') }} as low_usd,
        {{ json_numeric('quote_usd', 'close') }} as close_usd,
        {{ json_numeric('quote_usd', 'volume') }} as volume_usd,

        -- timestamps
        {{ json_timestamp('candle', 'time_open') }} as time_open,
        {{ json_timestamp('quote_usd', 'last_updated') }} as quote_last_updated_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from counted

),

deduplicated as (

    select distinct on (network_id, contract_address, time_open) *
    from renamed
    order by network_id asc, contract_address asc, time_open asc, fetched_at desc, landing_id desc

)

select * from deduplicated
