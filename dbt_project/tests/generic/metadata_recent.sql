{#- The newest value of the column is no older than `max_age` (an interval literal such as '2 days')
    before now: the model keeps receiving data. An empty model passes (nothing has landed yet, as on a
    fresh warehouse or a plan without the dataset): its grain and not-null tests say the rest. -#}
{% test metadata_recent(model, column_name, max_age) %}
select max({{ column_name }}) as newest
from {{ model }}
having max({{ column_name }}) < now() - interval '{{ max_age }}'
{% endtest %}
