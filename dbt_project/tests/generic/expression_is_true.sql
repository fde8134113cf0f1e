{#- Rows where the expression is false (or null when the column is present) fail the test. -#}
{% test expression_is_true(model, expression, column_name=none, where_clause='true') %}
select * from {{ model }} where ({{ where_clause }}) and not coalesce(({{ expression }}), false)
{% endtest %}
