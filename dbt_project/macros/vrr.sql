{#- Shared definitions used by several models. -#}

{#- First day of the calendar quarter of a date. -#}
{% macro period_start(date_expr) -%}
    cast(date_trunc('quarter', {{ date_expr }}) as date)
{%- endmacro %}

{#- Financial-year label of a quarter start: 2024-04-01 -> '2024/25 Q1', 2025-01-01 -> '2024/25 Q4'. -#}
{% macro period_label(period_expr) -%}
    (
        cast(year({{ period_expr }}) - case when month({{ period_expr }}) < 4 then 1 else 0 end as string)
        || '/'
        || lpad(cast((year({{ period_expr }}) - case when month({{ period_expr }}) < 4 then 1 else 0 end + 1) % 100 as string), 2, '0')
        || ' Q'
        || cast((quarter({{ period_expr }}) + 2) % 4 + 1 as string)
    )
{%- endmacro %}

{#- Y / y / Yes -> 'Y', N / No -> 'N', blank -> null, anything else upper-cased as given. -#}
{% macro yes_no(column) -%}
    case
        when upper(trim({{ column }})) in ('Y', 'YES') then 'Y'
        when upper(trim({{ column }})) in ('N', 'NO') then 'N'
        else nullif(upper(trim({{ column }})), '')
    end
{%- endmacro %}

{#- An optional date as ingest leaves it: YYYY-MM-DD when the extract's value was a real date (ingest writes every
    date it can read in that one form), anything else kept as received. Only that form is read as a date, so a
    value ingest could not read (2024/01/05, 2024-1-5, 2024-02-30) is null here and listed in data_quality_issues,
    whichever engine builds the marts (their casts accept different spellings beyond it). -#}
{% macro date_or_null(text) -%}
    case when {{ full_match(text, '[0-9]{4}-[0-9]{2}-[0-9]{2}') }} then try_cast({{ text }} as date) end
{%- endmacro %}

{#- 95% Wilson score interval for x successes out of n (z from the var wilson_z). Exact at the edges:
    the lower bound is 0 when x = 0 and the upper bound is 1 when x = n. -#}
{% macro wilson_bound(x, n, side) -%}
    {%- set z = var('wilson_z') -%}
    case
        when {{ n }} = 0 then null
        {% if side == 'lower' %}when {{ x }} = 0 then 0.0{% else %}when {{ x }} = {{ n }} then 1.0{% endif %}
        else (
            ({{ x }}::double / {{ n }} + {{ z }} * {{ z }} / (2.0 * {{ n }}))
            {{ '-' if side == 'lower' else '+' }} {{ z }} * sqrt(
                ({{ x }}::double / {{ n }}) * (1 - {{ x }}::double / {{ n }}) / {{ n }}
                + {{ z }} * {{ z }} / (4.0 * {{ n }} * {{ n }})
            )
        ) / (1 + {{ z }} * {{ z }} / {{ n }})
    end
{%- endmacro %}

{#- A rate that is null when its denominator is zero. -#}
{% macro safe_rate(numerator, denominator) -%}
    case when {{ denominator }} > 0 then {{ numerator }}::double / {{ denominator }} end
{%- endmacro %}

{#- force_code of a row grouped with by_force_and_all: the force, or ALL on the rows over all forces. -#}
{% macro force_or_all() -%}
    case when grouping(force_code) = 1 then 'ALL' else force_code end
{%- endmacro %}

{#- Group by period and the given columns, once per force and once over all forces. -#}
{% macro by_force_and_all(columns) -%}
    group by grouping sets (
        (period_start, force_code, {{ columns | join(', ') }}),
        (period_start, {{ columns | join(', ') }})
    )
{%- endmacro %}

{#- The latest version of each record: the row from the newest extract wins. -#}
{% macro latest_version(relation, key) -%}
    select *
    from {{ relation }}
    qualify row_number() over (partition by {{ key }} order by extract_date desc, line_number desc) = 1
{%- endmacro %}

{#- The counting basis a mart states in its counting_basis column: cohort (decisions made in the quarter) or
    period (events in the quarter, as the CPS publishes). -#}
{% macro counting_basis(basis) -%}
    {%- set labels = {
        'cohort': 'cohort: decisions made in the quarter',
        'period': 'period: requests received and reviews completed in the quarter',
        'rolling': 'cohort: decisions made in the four quarters ending with the quarter',
    } -%}
    '{{ labels[basis] }}'
{%- endmacro %}

{#- True while a quarter's figures can still move: the as-at date is before the quarter start plus
    var('provisional_months') (6: three months of decisions, then the three-month request window). -#}
{% macro is_provisional(period_expr, as_at_expr) -%}
    ({{ as_at_expr }} < {{ period_expr }} + interval {{ var('provisional_months') }} month)
{%- endmacro %}

{#- The cohorts of the uptake marts: one copy of each eligible decision per cohort dimension. `relation` has the
    columns period_start, force_code and the cohort columns; extra columns are carried along. -#}
{% macro uptake_by_cohort(relation, extra_columns=[], columns=none) -%}
    {%- set columns = columns or [
        'force_code', 'has_request', 'requests', 'reviews_completed', 'reviews_overturned',
        'days_notification_to_request', 'victim_number',
    ] -%}
    {%- set cohorts = [
        ('all', "'All'"),
        ('scheme', 'scheme'),
        ('age_band', 'age_band'),
        ('sex', 'sex'),
        ('ethnicity_group', 'ethnicity_group'),
        ('disability', 'disability'),
        ('offence_group', 'offence_group'),
    ] -%}
    {%- for dimension, value in cohorts %}
    select
        period_start,
        {% for column in extra_columns + columns %}{{ column }}, {% endfor %}
        '{{ dimension }}' as cohort_dimension,
        {{ value }} as cohort_value
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- The counts of the uptake marts over a group of cohort rows. -#}
{% macro uptake_counts() -%}
        count(*) as eligible_decisions,
        cast(count_if(has_request) as bigint) as decisions_with_request,
        cast(sum(requests) as bigint) as requests,
        cast(sum(reviews_completed) as bigint) as reviews_completed,
        cast(sum(reviews_overturned) as bigint) as reviews_overturned,
        median(days_notification_to_request::double)
            filter (where has_request and days_notification_to_request is not null) as median_days_to_request,
        count(*) filter (where has_request and days_notification_to_request is not null) as decisions_timed_to_request
{%- endmacro %}

{#- The distinct-victim counts of the uptake marts as common table expressions, the last named `victims`
    (eligible_victims and victims_with_request by period, force_code and cohort; force_code 'ALL' over all
    forces), from cohort rows `relation` (uptake_by_cohort with a victim_number column, null for a blank victim).
    Two plain group-bys (one row per victim and group, then a count) rather than count(distinct) beside the
    other counts: a distinct aggregate in a grouping-sets query is several times slower (55 s against 10 s for
    vrr_uptake at 10 million decisions). A victim counts once over all forces, however many forces they are in. -#}
{% macro victim_counts(relation) -%}
victims_by_force as (
    select
        period_start, force_code, cohort_dimension, cohort_value, victim_number,
        bool_or(has_request) as has_request
    from {{ relation }}
    where victim_number is not null
    group by period_start, force_code, cohort_dimension, cohort_value, victim_number
),

victims_all_forces as (
    select
        period_start, cohort_dimension, cohort_value, victim_number,
        bool_or(has_request) as has_request
    from victims_by_force
    group by period_start, cohort_dimension, cohort_value, victim_number
),

victims as (
    select
        period_start, force_code, cohort_dimension, cohort_value,
        count(*) as eligible_victims,
        cast(count_if(has_request) as bigint) as victims_with_request
    from victims_by_force
    group by period_start, force_code, cohort_dimension, cohort_value
    union all
    select
        period_start, 'ALL' as force_code, cohort_dimension, cohort_value,
        count(*) as eligible_victims,
        cast(count_if(has_request) as bigint) as victims_with_request
    from victims_all_forces
    group by period_start, cohort_dimension, cohort_value
)
{%- endmacro %}

{#- The figures of the uptake marts from their counts (relation `counts`), in the marts' column order. -#}
{% macro uptake_figures(counts) -%}
        {{ counts }}.eligible_decisions,
        {{ counts }}.decisions_with_request,
        {{ safe_rate(counts ~ '.decisions_with_request', counts ~ '.eligible_decisions') }} as uptake_rate,
        {{ wilson_bound(counts ~ '.decisions_with_request', counts ~ '.eligible_decisions', 'lower') }} as uptake_ci_lower,
        {{ wilson_bound(counts ~ '.decisions_with_request', counts ~ '.eligible_decisions', 'upper') }} as uptake_ci_upper,
        {{ counts }}.requests,
        {{ counts }}.reviews_completed,
        {{ counts }}.reviews_overturned,
        {{ safe_rate(counts ~ '.reviews_overturned', counts ~ '.reviews_completed') }} as overturn_rate,
        {{ counts }}.median_days_to_request
{%- endmacro %}

{#- Incremental models rebuild whole quarters: those that the run's new or changed extracts touch, as ingest
    lists them in raw.affected_quarters (a correction that moves a record between quarters touches both). -#}
{% macro in_affected_quarters(date_column) -%}
    {{ period_start(date_column) }} in (select period_start from {{ source('landing', 'affected_quarters') }})
{%- endmacro %}

{#- Pre-hook of an incremental model: remove the rows of the quarters about to be rebuilt. (delete+insert keyed on
    the quarter would keep a quarter that a correction leaves empty, as no new row names it.) -#}
{% macro delete_affected_quarters(date_column) -%}
    {{ return(adapter.dispatch('delete_affected_quarters', 'vrr')(date_column)) }}
{%- endmacro %}

{% macro duckdb__delete_affected_quarters(date_column) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where {{ in_affected_quarters(date_column) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__delete_affected_quarters(date_column) -%}
    {%- if is_incremental() -%}{{ incremental_build_unsupported() }}{%- endif -%}
{%- endmacro %}

{#- The decisions the run's new, changed or removed extracts touch, as ingest lists them in raw.touched_decisions: those
    with a version in such a file, and those named by any version of a request in one. Nothing else can change a
    decision's latest version or its requests (a change of seeds or models makes the run a full build). -#}
{% macro in_touched_decisions() -%}
    decision_id in (select decision_id from {{ source('landing', 'touched_decisions') }})
{%- endmacro %}

{#- Pre-hook of the models incremental by decision (int_decisions_latest, fct_vrr_decisions): remove the touched
    decisions about to be rebuilt (a decision whose every version left the folder is not rebuilt at all). -#}
{% macro delete_touched_decisions() -%}
    {{ return(adapter.dispatch('delete_touched_decisions', 'vrr')()) }}
{%- endmacro %}

{% macro duckdb__delete_touched_decisions() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where {{ in_touched_decisions() }}
    {%- endif -%}
{%- endmacro %}

{% macro default__delete_touched_decisions() -%}
    {%- if is_incremental() -%}{{ incremental_build_unsupported() }}{%- endif -%}
{%- endmacro %}

{#- Post-hook of the quarterly marts when incremental: the quarters not rebuilt keep their figures, but every row
    gets the as-at date of this build and the provisional flag that goes with it, as a full build would give. -#}
{% macro refresh_as_at_date() -%}
    {{ return(adapter.dispatch('refresh_as_at_date', 'vrr')()) }}
{%- endmacro %}

{% macro duckdb__refresh_as_at_date() -%}
    {%- if is_incremental() -%}
    update {{ this }} set
        as_at_date = load_info.as_at_date,
        is_provisional = {{ is_provisional('period_start', 'load_info.as_at_date') }}
    from (select as_at_date from {{ ref('int_load_as_at') }}) as load_info
    {%- endif -%}
{%- endmacro %}

{% macro default__refresh_as_at_date() -%}
    {%- if is_incremental() -%}{{ incremental_build_unsupported() }}{%- endif -%}
{%- endmacro %}

{#- The incremental path deletes and updates rows of an existing table. Spark's plain Parquet tables can do neither
    (a Delta or Iceberg table could, see docs/scaling.md), so on Spark the incremental models build in full only:
    into an empty catalogue, or with --full-refresh. Stopping here is safer than appending a second copy of the
    rebuilt quarters. -#}
{% macro incremental_build_unsupported() -%}
    {{ exceptions.raise_compiler_error(
        this ~ " cannot be updated in place on " ~ target.type ~ ": its incremental build deletes and updates rows, "
        ~ "which this table format does not support. Build it in full (dbt build --full-refresh).") }}
{%- endmacro %}
