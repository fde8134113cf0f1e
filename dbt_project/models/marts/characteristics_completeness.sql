-- How completely victims' protected characteristics are recorded, by quarter of the decision (cohort basis),
-- force and population. Decisions not yet assigned an outcome (outcome 0) are left out.
-- Incremental by quarter, like fct_vrr_decisions: a run rebuilds the affected quarters and refreshes every row's
-- as-at date and provisional flag (the config of the cohort-basis marts, in dbt_project.yml).
{%- set populations = [
    ('all_decisions', 'true'),
    ('vrr_eligible', 'is_vrr_eligible'),
    ('rape', "offence_group in ('Adult rape', 'Child rape')"),
] %}
{%- set characteristics = [
    ('age', "age_band <> 'Unknown'"),
    ('sex', "sex <> 'Unknown'"),
    ('ethnicity', "ethnicity_group <> 'Not stated'"),
    ('disability', "disability <> 'Unknown'"),
] %}
-- noqa: disable=LT02
-- (sqlfluff cannot place the indents of the lines that the Jinja loops below render)
{%- set pairs = [] %}
{%- for population, condition in populations %}{% for characteristic, is_recorded in characteristics %}
{%- do pairs.append((population, condition, characteristic, is_recorded)) %}
{%- endfor %}{% endfor %}
with

decisions as (
    select period_start, force_code, is_vrr_eligible, offence_group, age_band, sex, ethnicity_group, disability
    from {{ ref('fct_vrr_decisions') }}
    where outcome_code <> '0'{% if is_incremental() %} and {{ in_affected_quarters('period_start') }}{% endif %}
),

tallies as (
    -- one pass over the decisions: per quarter and force (and over all forces), the decisions of each population
    -- and how many of them have each characteristic recorded
    select
        period_start,
        {{ force_or_all() }} as force_code,
        {%- for population, condition in populations %}
        count(*) filter (where {{ condition }}) as {{ population }}__decisions,
        {%- endfor %}
        {%- for population, condition, characteristic, is_recorded in pairs %}
        count(*) filter (where ({{ condition }}) and ({{ is_recorded }})) as {{ population }}__{{ characteristic }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from decisions
    group by grouping sets ((period_start, force_code), (period_start))
),

counts as (
    -- one row per population and characteristic, where the population has decisions
    {%- for population, condition, characteristic, is_recorded in pairs %}
    select
        period_start,
        force_code,
        '{{ population }}' as population,
        '{{ characteristic }}' as characteristic,
        {{ population }}__decisions as decisions,
        {{ population }}__{{ characteristic }} as recorded
    from tallies
    where {{ population }}__decisions > 0
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),
-- noqa: enable=LT02

load_info as (
    select as_at_date from {{ ref('int_load_as_at') }}
),

final as (
    select
        period_start,
        {{ period_label('period_start') }} as period_label,
        force_code,
        population,
        characteristic,
        decisions,
        recorded,
        {{ safe_rate('recorded', 'decisions') }} as completeness_rate,
        {{ counting_basis('cohort') }} as counting_basis,
        {{ is_provisional('counts.period_start', 'load_info.as_at_date') }} as is_provisional,
        load_info.as_at_date
    from counts
    cross join load_info
)

select * from final
