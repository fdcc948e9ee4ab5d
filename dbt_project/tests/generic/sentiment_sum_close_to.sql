{#- The sum of `columns` is `total` within `tolerance` (shares that split a whole, such as the up and
    down votes' percentages summing to 100); rows with a null among them are not checked. -#}
{% test sentiment_sum_close_to(model, columns, total, tolerance) %}
select {{ columns | join(', ') }}
from {{ model }}
where abs(({{ columns | join(' + ') }}) - {{ total }}) > {{ tolerance }}
{% endtest %}
