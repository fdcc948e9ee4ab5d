{#- Every kept observation (column_name, a timestamptz) lies inside the UTC period it is filed under:
    period is the model's hour (timestamptz) or date column, grain 'hour' or 'day'. Checked over
    periods since var('test_since'); a row whose period is null is left to not_null. -#}
{% test observed_in_period(model, column_name, period, grain) %}
{%- if grain not in ('hour', 'day') -%}
    {{ exceptions.raise_compiler_error("observed_in_period: grain is 'hour' or 'day', not " ~ grain) }}
{%- endif %}
select {{ period }} as period, {{ column_name }} as observed_at
from {{ model }}
where
{%- if grain == 'day' %}
    {{ period }} >= ({{ var('test_since') }})::date
    and ({{ column_name }} at time zone 'UTC')::date <> {{ period }}
{%- else %}
    {{ period }} >= {{ var('test_since') }}
    and date_trunc('hour', {{ column_name }}, 'UTC') <> {{ period }}
{%- endif %}
{% endtest %}
