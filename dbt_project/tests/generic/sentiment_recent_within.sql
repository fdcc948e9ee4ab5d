{#- The newest value of the column (a fact's observation time) is no older than `interval` (a Postgres
    interval literal such as '2 days') before now; an empty model passes (nothing landed yet: the
    sources' freshness says so). -#}
{% test sentiment_recent_within(model, column_name, interval) %}
select max({{ column_name }}) as newest
from {{ model }}
having max({{ column_name }}) < now() - interval '{{ interval }}'
{% endtest %}
