{#- Models land in the schema their folder names (staging, intermediate, marts), not
    "<target schema>_<custom schema>": the warehouse's layout is the same in every environment. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
