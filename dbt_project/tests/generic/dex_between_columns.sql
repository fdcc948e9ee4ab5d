{#- The column lies within the row's own [lower_column, upper_column] (a candle's open and close within
    its low and high), inclusive; `tolerance` widens the range by that fraction of its bounds (0: none).
    Rows with a null among the three are not checked. -#}
{% test dex_between_columns(model, column_name, lower_column, upper_column, tolerance=0) %}
select {{ column_name }}, {{ lower_column }}, {{ upper_column }}
from {{ model }}
where
    {{ column_name }} < {{ lower_column }} * (1 - {{ tolerance }})
    or {{ column_name }} > {{ upper_column }} * (1 + {{ tolerance }})
{% endtest %}
