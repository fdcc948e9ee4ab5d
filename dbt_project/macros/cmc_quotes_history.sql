{#- Reads of a landed CMC /v2/cryptocurrency/quotes/historical body (raw.cmc__cryptocurrency_quotes_historical),
    shared by stg_cmc__quotes_history and fct_cmc_price_hourly (which reads the raw table itself, for its
    watermark filters to reach the raw table's indexes), so that both agree on a point's coin and time.
    /v2/cryptocurrency/ohlcv/historical bodies have the same shapes (stg_cmc__ohlcv_history: `table`
    cryptocurrency_ohlcv_historical, each candle's time `time_open`). -#}

{#- The select of one row per quote of the raw table's bodies, with the landing's columns (the raw
    table aliased `alias`: the caller may add a `where` on them). `data` is the bare coin object (it has
    `quotes`) when the call named one id, a map keyed by id when it named several, and a map keyed by
    symbol with a list of coins per symbol: all three are read.
    `observed_at` is the quote's `timestamp` (the sample's own time), `quote_hour` the hour it falls in
    (the boundary it was sampled for). -#}
{% macro cmc_quotes_history_points(alias='landed', table='cryptocurrency_quotes_historical',
                                   time_field='timestamp') -%}
    select
        {{ alias }}.landing_id,
        {{ alias }}.run_id,
        {{ alias }}.interval_start,
        {{ alias }}.interval_end,
        {{ alias }}.fetched_at,
        {{ alias }}.landed_at,
        {{ alias }}.landed_xid,
        (coin.value ->> 'id')::bigint as cmc_id,
        coin.value ->> 'symbol' as symbol,
        coin.value ->> 'name' as coin_name,
        quote.ordinality as position_in_coin,
        quote.value -> 'quote' -> 'USD' as quote_usd,
        (quote.value ->> '{{ time_field }}')::timestamptz as observed_at,
        date_trunc('hour', (quote.value ->> '{{ time_field }}')::timestamptz, 'UTC') as quote_hour
    from (select * from {{ source_or_empty('cmc', table) }}) as {{ alias }}
    cross join lateral jsonb_each(
        case
            when jsonb_typeof({{ alias }}.body_json -> 'data') is distinct from 'object' then '{}'::jsonb
            when {{ alias }}.body_json -> 'data' ? 'quotes'
                then jsonb_build_object('one', {{ alias }}.body_json -> 'data')
            else {{ alias }}.body_json -> 'data'
        end
    ) as keyed (key, value)
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(keyed.value) = 'array' then keyed.value else jsonb_build_array(keyed.value) end
    ) as coin (value)
    cross join lateral jsonb_array_elements(coin.value -> 'quotes') with ordinality as quote (value, ordinality)
{%- endmacro %}

{#- The 24 h volume of a quotes/historical USD quote: `volume_24h` (what clients parse) or `volume_24hr`
    (the API schema's spelling); either may be absent (cryptoflow.apis.cmc). -#}
{% macro cmc_quote_volume_24h(quote) -%}
    coalesce(({{ quote }} ->> 'volume_24h')::numeric, ({{ quote }} ->> 'volume_24hr')::numeric)
{%- endmacro %}
