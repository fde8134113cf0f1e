-- VRR requests and reviews counted in the quarter in which each event happened (period basis, as the CPS
-- publishes), over every request that counts whatever its decision's eligibility, by force of the decision
-- and scheme of the request, and for both schemes together ('All schemes'). Working days from the request to the
-- review's completion: the working days d with request_date < d <= review_completed_date.
with

requests as (
    select * from {{ ref('int_vrr_requests_counted') }}
),

decisions as (
    select decision_id, victim_notified_date from {{ ref('fct_vrr_decisions') }}
),

scheme_labels as (
    select * from {{ ref('scheme_labels') }}
),

calendar as (
    select * from {{ ref('int_working_days') }}
),

targets as (
    select 'police' as scheme, {{ var('review_target_working_days_police') }} as target_working_days
    union all
    select 'cps', {{ var('review_target_working_days_cps') }}
),

detailed as (
    select
        requests.request_id,
        requests.decision_force_code as force_code,
        scheme_labels.scheme_label as scheme,
        targets.target_working_days,
        requests.request_date,
        -- Later than three calendar months after notification (DuckDB clamps 30 Nov + 3 months to 29 Feb).
        cast(decisions.victim_notified_date + interval 3 month as date) < requests.request_date
            as is_after_three_months,
        requests.review_completed_date,
        requests.is_review_completed and requests.review_completed_date is not null as is_review_completed,
        requests.is_decision_overturned,
        completed_day.working_day_index - requested_day.working_day_index as working_days_to_complete
    from requests
    inner join decisions on requests.decision_id = decisions.decision_id
    left join scheme_labels on requests.scheme = scheme_labels.scheme
    left join targets on requests.scheme = targets.scheme
    left join calendar as requested_day on requests.request_date = requested_day.calendar_date
    left join calendar as completed_day on requests.review_completed_date = completed_day.calendar_date
),

events as (
    select
        {{ period_start('request_date') }} as period_start,
        force_code,
        scheme,
        target_working_days,
        1 as received,
        coalesce(is_after_three_months, false)::integer as after_three_months,
        0 as completed,
        0 as overturned,
        0 as within_target,
        null::integer as working_days_to_complete
    from detailed
    union all
    select
        {{ period_start('review_completed_date') }},
        force_code,
        scheme,
        target_working_days,
        0,
        0,
        1,
        is_decision_overturned::integer,
        coalesce(working_days_to_complete <= target_working_days, false)::integer,
        working_days_to_complete
    from detailed
    where is_review_completed
),

counts as (
    select
        period_start,
        {{ force_or_all() }} as force_code,
        case when grouping(scheme) = 1 then 'All schemes' else scheme end as scheme,
        -- one target per scheme; none for both schemes together
        case when grouping(scheme) = 0 then max(target_working_days) end as target_working_days,
        cast(sum(received) as bigint) as requests_received,
        cast(sum(after_three_months) as bigint) as requests_after_three_months,
        cast(sum(completed) as bigint) as reviews_completed,
        cast(sum(overturned) as bigint) as reviews_overturned,
        cast(sum(within_target) as bigint) as completed_within_target,
        median(working_days_to_complete::double) as median_working_days_to_complete
    from events
    -- each force and all forces, each scheme and both schemes together
    group by grouping sets (
        (period_start, force_code, scheme),
        (period_start, scheme),
        (period_start, force_code),
        (period_start)
    )
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
        requests_received,
        requests_after_three_months,
        reviews_completed,
        reviews_overturned,
        completed_within_target,
        median_working_days_to_complete,
        cast(target_working_days as integer) as target_working_days,
        {{ counting_basis('period') }} as counting_basis,
        {{ is_provisional('counts.period_start', 'load_info.as_at_date') }} as is_provisional,
        load_info.as_at_date
    from counts
    cross join load_info
)

select * from final
