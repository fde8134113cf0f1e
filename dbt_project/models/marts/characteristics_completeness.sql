-- How completely victims' protected characteristics are recorded, by quarter of the decision (cohort basis),
-- force and population. Decisions not yet assigned an outcome (outcome 0) are left out.
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
with

decisions as (
    select * from {{ ref('fct_vrr_decisions') }} where outcome_code <> '0'
),

by_population as (
    {% for population, condition in populations %}
    select *, '{{ population }}' as population from decisions where {{ condition }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

by_characteristic as (
    {% for characteristic, is_recorded in characteristics %}
    select
        period_start,
        force_code,
        population,
        '{{ characteristic }}' as characteristic,
        {{ is_recorded }} as is_recorded
    from by_population
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

counts as (
    select
        period_start,
        {{ force_or_all() }} as force_code,
        population,
        characteristic,
        count(*) as decisions,
        count(*) filter (where is_recorded) as recorded
    from by_characteristic
    {{ by_force_and_all(['population', 'characteristic']) }}
),

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
