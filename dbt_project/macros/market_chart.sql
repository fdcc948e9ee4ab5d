{#- Reads of a landed CoinGecko /coins/{id}/market_chart/range response (raw.coingecko__coins_market_chart_range),
    shared by its two staging models so that both agree on a window's coin and span. -#}

{#- A JSON [UNIX ms, value] point's time: whole milliseconds times an interval, exact to the microsecond. -#}
{% macro epoch_ms_timestamp(ms_text) -%}
    (timestamptz '1970-01-01 00:00:00+00' + ({{ ms_text }})::bigint * interval '1 millisecond')
{%- endmacro %}

{#- The coin of a concrete path such as /coins/bitcoin/market_chart/range (null for any other path). -#}
{% macro market_chart_coin_id(endpoint) -%}
    substring({{ endpoint }} from '^/coins/([^/]+)/market_chart/range$')
{%- endmacro %}

{#- The span a landed window speaks for, a tstzrange: its data interval [interval_start, interval_end)
    cut to the requested window [from, to] (UNIX seconds, both inclusive at the API). A point is kept
    only inside it, so the boundary point that back-to-back windows both receive belongs to the later
    interval. A request without `from` or `to` is cut by its interval alone. -#}
{% macro market_chart_covered(relation) -%}
    (
        tstzrange({{ relation }}.interval_start, {{ relation }}.interval_end, '[)')
        * case
            when
                ({{ relation }}.request_params ->> 'from')::numeric
                > ({{ relation }}.request_params ->> 'to')::numeric
                then 'empty'::tstzrange
            else tstzrange(
                to_timestamp(({{ relation }}.request_params ->> 'from')::numeric),
                to_timestamp(({{ relation }}.request_params ->> 'to')::numeric),
                '[]'
            )
        end
    )
{%- endmacro %}
