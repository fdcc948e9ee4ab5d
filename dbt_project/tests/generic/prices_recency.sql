{#- The newest value of `column` (a timestamp or date) is no older than `max_age` (an SQL interval such
    as "interval '3 hours'") before now; an empty model fails too: nothing is recent. -#}
{% test prices_recency(model, column, max_age) %}
select max({{ column }}) as newest
from {{ model }}
having max({{ column }}) is null or max({{ column }}) < now() - {{ max_age }}
{% endtest %}
