-- How soon victims are told of a VRR-eligible decision, in England and Wales working days, by quarter of the
-- decision (cohort basis), force and scheme. Working days from the decision to the notification: the working
-- days d with decision_date < d <= victim_notified_date (same day = 0).
-- Incremental by quarter, like fct_vrr_decisions: a run rebuilds the affected quarters and refreshes every row's
-- as-at date and provisional flag (the config of the cohort-basis marts, in dbt_project.yml).
{%- set target = var('notification_target_working_days') %}
with

eligible as (
    select * from {{ ref('fct_vrr_decisions') }} where is_vrr_eligible
    {%- if is_incremental() %} and {{ in_affected_quarters('period_start') }}{% endif %}
),

calendar as (
    select * from {{ ref('int_working_days') }}
),

timed as (
    select
        eligible.period_start,
        eligible.force_code,
        eligible.scheme,
        eligible.victim_notified_date is not null as is_notified,
        -- fct_vrr_decisions already reads a notification dated before its decision as none; restated here.
        case
            when eligible.victim_notified_date >= eligible.decision_date
                then notified_day.working_day_index - decided_day.working_day_index
        end as working_days_to_notify
    from eligible
    left join calendar as decided_day on eligible.decision_date = decided_day.calendar_date
    left join calendar as notified_day on eligible.victim_notified_date = notified_day.calendar_date
),

counts as (
    select
        period_start,
        {{ force_or_all() }} as force_code,
        scheme,
        count(*) as decisions,
        count(*) filter (where is_notified) as notified,
        count(*) filter (where not is_notified) as not_notified,
        median(working_days_to_notify::double) as median_working_days_to_notify,
        count(*) filter (where working_days_to_notify <= {{ target }}) as notified_within_target
    from timed
    {{ by_force_and_all(['scheme']) }}
),

load_info as (
    select as_at_date from {{ ref('int_load_as_at') }}
),

final as (
    select
        period_start,
        {{ period_label('period_start') }} as period_label,
        force_code,
        scheme,
        decisions,
        notified,
        not_notified,
        median_working_days_to_notify,
        notified_within_target,
        {{ safe_rate('notified_within_target', 'decisions') }} as notified_within_target_rate,
        cast({{ target }} as integer) as target_working_days,
        {{ counting_basis('cohort') }} as counting_basis,
        {{ is_provisional('counts.period_start', 'load_info.as_at_date') }} as is_provisional,
        load_info.as_at_date
    from counts
    cross join load_info
)

select * from final
