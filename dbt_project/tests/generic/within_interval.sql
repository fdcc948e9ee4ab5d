{#- Every value of the column lies within [lower, upper] (inclusive), nulls ignored. -#}
{% test within_interval(model, column_name, lower, upper) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} < {{ lower }} or {{ column_name }} > {{ upper }}
{% endtest %}
