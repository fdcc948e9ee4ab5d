{#- Every non-null value of the column lies within [-max_abs, max_abs] (a deviation, a spread). -#}
{% test prices_abs_at_most(model, column_name, max_abs) %}
select {{ column_name }}
from {{ model }}
where abs({{ column_name }}) > {{ max_abs }}
{% endtest %}
