{#- What the project needs of Spark beyond the models' SQL (see macros/engine.sql for that): reading the raw
    tables, and loading the seeds. -#}

{#- The raw tables on Spark: each source table as a Parquet table over the files of `parquet_dir`/<schema>/<table>
    (make spark-check exports them from the DuckDB warehouse after ingest, so identifiers arrive pseudonymised).
    Run with `dbt run-operation load_raw_tables --target spark --args '{parquet_dir: ...}'`. -#}
{% macro load_raw_tables(parquet_dir) %}
    {%- for source in graph.sources.values() %}
        {%- do run_query('create schema if not exists ' ~ source.schema) %}
        {%- do run_query('drop table if exists ' ~ source.schema ~ '.' ~ source.identifier) %}
        {%- do run_query(
            'create table ' ~ source.schema ~ '.' ~ source.identifier ~ ' using parquet location '
            ~ "'" ~ parquet_dir ~ '/' ~ source.schema ~ '/' ~ source.identifier ~ "'") %}
    {%- endfor %}
{% endmacro %}

{#- Seeds on Spark: dbt-spark 1.11 passes seed values to its session connection unescaped, so a value with an
    apostrophe (New Year's Day in bank_holidays_england_wales) breaks the insert. Here each value is written as a
    literal, escaped as Spark reads string literals; otherwise as dbt-spark's own macro. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) %}
        {%- set sql %}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
                    cast({{ spark_seed_literal(row[loop.index0]) }} as {{ type }})
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset %}
        {%- do adapter.add_query(sql, abridge_sql_log=True) %}
        {%- if loop.first %}{% do statements.append(sql) %}{% endif %}
    {%- endfor %}
    {{ return(statements[0]) }}
{% endmacro %}

{#- A seed value as a Spark SQL literal: null, true/false, a number as written, anything else a quoted string with
    backslashes and apostrophes escaped. -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}null
    {%- elif value is sameas true or value is sameas false -%}{{ 'true' if value else 'false' }}
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ (value | string).replace('\\', '\\\\').replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}
