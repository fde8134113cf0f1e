-- Share of assigned outcomes where the victim did not support action (outcomes 14 and 16 over every outcome
-- except 0), by quarter of the decision (cohort basis), force and offence group: the rape review scorecards'
-- victim-engagement measure.
with

assigned as (
    select * from {{ ref('fct_vrr_decisions') }} where outcome_code <> '0'
),

counts as (
    select
        period_start,
        {{ force_or_all() }} as force_code,
        offence_group,
        count(*) as outcomes_assigned,
        count(*) filter (where outcome_code in ('14', '16')) as victim_does_not_support
    from assigned
    {{ by_force_and_all(['offence_group']) }}
),

final as (
    select
        period_start,
        {{ period_label('period_start') }} as period_label,
        force_code,
        offence_group,
        outcomes_assigned,
        victim_does_not_support,
        {{ safe_rate('victim_does_not_support', 'outcomes_assigned') }} as withdrawal_rate,
        {{ counting_basis('cohort') }} as counting_basis
    from counts
)

select * from final
