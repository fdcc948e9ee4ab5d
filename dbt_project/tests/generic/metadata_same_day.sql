{#- Every non-null timestamp of the column falls on the UTC day in `day_column` (an observation is filed
    under its own day). -#}
{% test metadata_same_day(model, column_name, day_column) %}
select {{ column_name }}, {{ day_column }}
from {{ model }}
where {{ column_name }} is not null and ({{ column_name }} at time zone 'UTC')::date <> {{ day_column }}
{% endtest %}
