{#- Typed reads of a JSON record's fields. Raw bodies are validated before they land, so a cast that
    fails here means the validation rules and the models disagree: it should fail loudly. -#}
{% macro json_numeric(record, field) -%}
    ({{ record }} ->> '{{ field }}')::numeric
{%- endmacro %}

{% macro json_text(record, field) -%}
    ({{ record }} ->> '{{ field }}')
{%- endmacro %}

{% macro json_timestamp(record, field) -%}
    ({{ record }} ->> '{{ field }}')::timestamptz
{%- endmacro %}
