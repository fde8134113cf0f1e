-- VRR take-up over the four quarters ending with each quarter (cohort basis: decisions made in the window),
-- by force and cohort. Counts are pooled over the window and the rate, interval and median recomputed on the
-- pooled decisions (never averaged over quarters).
with

eligible as (
    select
        period_start, force_code, scheme, age_band, sex, ethnicity_group, disability, offence_group, has_request, requests,
        reviews_completed, reviews_overturned, days_notification_to_request, victim_pseudonym
    from {{ ref('fct_vrr_decisions') }}
    where is_vrr_eligible
),

load_info as (
    select as_at_date from {{ ref('int_load_as_at') }}
),

series as (
    select min(period_start) as first_quarter, max(period_start) as last_quarter from eligible
),

quarters as (
    select distinct {{ period_start('calendar.calendar_date') }} as period_start
    from {{ ref('int_working_days') }} as calendar
    cross join series
    where calendar.calendar_date between series.first_quarter and series.last_quarter
),

windows as (
    select
        window_end.period_start as window_end,
        cast(window_end.period_start - interval 9 month as date) as window_start,
        count(*) as quarters_in_window
    from quarters as window_end
    inner join quarters as member
        on member.period_start between window_end.period_start - interval 9 month and window_end.period_start
    group by window_end.period_start
),

windowed as (
    select
        windows.window_end as period_start,
        windows.window_start,
        windows.quarters_in_window,
        eligible.force_code,
        eligible.scheme,
        eligible.age_band,
        eligible.sex,
        eligible.ethnicity_group,
        eligible.disability,
        eligible.offence_group,
        eligible.has_request,
        eligible.requests,
        eligible.reviews_completed,
        eligible.reviews_overturned,
        eligible.days_notification_to_request,
        eligible.victim_pseudonym
    from eligible
    inner join windows
        on eligible.period_start between windows.window_start and windows.window_end
),

by_cohort as (
    {{ uptake_by_cohort('windowed', ['window_start', 'quarters_in_window']) }}
),

counts as (
    select
        period_start,
        window_start,
        quarters_in_window,
        {{ force_or_all() }} as force_code,
        cohort_dimension,
        cohort_value,
        {{ uptake_counts() }}
    from by_cohort
    {{ by_force_and_all(['window_start', 'quarters_in_window', 'cohort_dimension', 'cohort_value']) }}
),

final as (
    select
        counts.period_start,
        {{ period_label('counts.period_start') }} as period_label,
        counts.force_code,
        counts.cohort_dimension,
        counts.cohort_value,
        {{ uptake_figures('counts') }},
        {{ is_provisional('counts.period_start', 'load_info.as_at_date') }} as is_provisional,
        load_info.as_at_date,
        {{ counting_basis('rolling') }} as counting_basis,
        counts.decisions_timed_to_request,
        counts.window_start,
        cast(counts.quarters_in_window as integer) as quarters_in_window,
        counts.eligible_victims,
        counts.victims_with_request
    from counts
    cross join load_info
)

select * from final
