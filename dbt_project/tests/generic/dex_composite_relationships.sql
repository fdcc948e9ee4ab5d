{#- dbt's `relationships` over several columns: every row whose `columns` are all non-null has a row of
    `to` with the same values in `fields` (in the same order), such as a pair's (network_id,
    contract_address) in the pairs dimension. -#}
{% test dex_composite_relationships(model, columns, to, fields) %}
with

child as (

    select * from {{ model }}

)

select {% for column in columns %}child.{{ column }}{{ ", " if not loop.last }}{% endfor %}
from child
where
    {% for column in columns %}child.{{ column }} is not null and {% endfor %}
    not exists (
        select 1
        from {{ to }} as parent
        where
            {% for column in columns -%}
                parent.{{ fields[loop.index0] }} = child.{{ column }}{{ " and " if not loop.last }}
            {%- endfor %}
    )
{% endtest %}
