{#- The SQL that differs between engines, and only that. Every model is written in SQL that DuckDB and Spark both
    read; where they cannot share a construct, the model calls one of these macros, which dbt dispatches on the
    adapter (adapter.dispatch: duckdb__ for DuckDB, spark__ for Spark, default__ for any other engine). Add a
    construct here, with an implementation for each engine, rather than writing it into a model. -#}

{#- A CTE hint: DuckDB inlines the CTE into each reference (each one then scans only the columns it needs) rather
    than computing it once; Spark always inlines. Written `name as {{ not_materialized() }} (...)`. -#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'vrr')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}{%- endmacro %}

{% macro duckdb__not_materialized() -%}not materialized{%- endmacro %}

{#- True when the whole of `text` matches the regular expression `pattern` (a pattern both RE2 and Java read the
    same way: classes, counts, alternatives). -#}
{% macro full_match(text, pattern) -%}
    {{ return(adapter.dispatch('full_match', 'vrr')(text, pattern)) }}
{%- endmacro %}

{% macro duckdb__full_match(text, pattern) -%}
    regexp_full_match({{ text }}, '{{ pattern }}')
{%- endmacro %}

{#- rlike finds the pattern anywhere: anchored at the start and the very end of the text (\z, where $ would also
    match before a final line break). -#}
{% macro default__full_match(text, pattern) -%}
    ({{ text }} rlike '^(?:{{ pattern }})\\z')
{%- endmacro %}

{#- One row per value from `start` to `stop` (both included), `step` apart (integers step 1 by default; dates need
    `interval 1 day`): a set-returning expression for a select list. -#}
{% macro series(start, stop, step=none) -%}
    {{ return(adapter.dispatch('series', 'vrr')(start, stop, step)) }}
{%- endmacro %}

{% macro duckdb__series(start, stop, step) -%}
    unnest(generate_series({{ start }}, {{ stop }}{% if step %}, {{ step }}{% endif %}))
{%- endmacro %}

{% macro default__series(start, stop, step) -%}
    explode(sequence({{ start }}, {{ stop }}{% if step %}, {{ step }}{% endif %}))
{%- endmacro %}

{#- ISO day of the week of a date: 1 Monday to 7 Sunday. -#}
{% macro iso_day_of_week(date_expr) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'vrr')(date_expr)) }}
{%- endmacro %}

{% macro duckdb__iso_day_of_week(date_expr) -%}
    isodow({{ date_expr }})
{%- endmacro %}

{% macro default__iso_day_of_week(date_expr) -%}
    extract(dayofweek_iso from {{ date_expr }})
{%- endmacro %}
