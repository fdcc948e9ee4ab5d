{#- A watermark that follows commit order, for incremental models over raw tables.

    Raw rows carry `landed_xid`, the id of the transaction that landed them. A row becomes visible when
    that transaction commits, which may be after a later-stamped row's, so neither `landed_at` nor the
    largest id seen is a safe watermark: a landing that commits while a dbt run reads would be skipped
    for ever. The xmin of the snapshot a model was built from is: every transaction below it had ended
    when the snapshot was taken, so its rows were either read then or never will be (rolled back). The
    next run reads rows with `landed_xid >= that xmin`: what was still in flight then, and everything
    since; a few rows are read twice, and the model's unique key makes that harmless.

    - `commit_watermark()`: the xmin of the statement's own snapshot, stored as column `built_xmin`;
    - `landed_since_watermark(column)`: the filter for the next incremental run (everything when the
      model is empty). -#}

{% macro commit_watermark() -%}
    pg_snapshot_xmin(pg_current_snapshot())
{%- endmacro %}

{% macro landed_since_watermark(column='landed_xid') -%}
    {{ column }} >= (select coalesce(max(built.built_xmin), '0'::xid8) from {{ this }} as built)
{%- endmacro %}
