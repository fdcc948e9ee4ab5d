-- A history point lies in the data interval of the landing it was kept from: interval_start <= point <
-- interval_end (the rule of every history staging model: a body may hold points outside its interval).
{% test observed_in_landed_interval(model, column_name) %}
select {{ column_name }} as observed_at, interval_start, interval_end
from {{ model }}
where not ({{ column_name }} >= interval_start and {{ column_name }} < interval_end)
{% endtest %}
