-- VRR take-up over the four quarters ending with each quarter (cohort basis: decisions made in the window),
-- by force and cohort. Counts are pooled over the window and the rate, interval and median recomputed on the
-- pooled decisions (never averaged over quarters): the pooled counts are the window's quarters' counts in
-- vrr_uptake added up, and the median is taken again over the window's decisions with a timed request.
-- Victims are added up too, less the victims counted in more than one quarter of the window (only a victim with
-- eligible decisions in two or more quarters can be): each victim counts once in every window that holds one of
-- their quarters.
with

quarterly as (
    select * from {{ ref('vrr_uptake') }}
),

timed as (
    -- the only decisions a median is taken over: eligible, with a request and the days from notification to it
    select
        period_start, force_code, scheme, age_band, sex, ethnicity_group, disability, offence_group,
        days_notification_to_request
    from {{ ref('fct_vrr_decisions') }}
    where is_vrr_eligible and has_request and days_notification_to_request is not null
),

load_info as (
    select as_at_date from {{ ref('int_load_as_at') }}
),

series as (
    -- the quarters with an eligible decision (every such quarter has rows in vrr_uptake)
    select min(period_start) as first_quarter, max(period_start) as last_quarter from quarterly
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

pooled as (
    -- each force's (and all forces') counts of each cohort, added up over the quarters of the window
    select
        windows.window_end as period_start,
        windows.window_start,
        windows.quarters_in_window,
        quarterly.force_code,
        quarterly.cohort_dimension,
        quarterly.cohort_value,
        cast(sum(quarterly.eligible_decisions) as bigint) as eligible_decisions,
        cast(sum(quarterly.decisions_with_request) as bigint) as decisions_with_request,
        cast(sum(quarterly.requests) as bigint) as requests,
        cast(sum(quarterly.reviews_completed) as bigint) as reviews_completed,
        cast(sum(quarterly.reviews_overturned) as bigint) as reviews_overturned,
        cast(sum(quarterly.decisions_timed_to_request) as bigint) as decisions_timed_to_request,
        cast(sum(quarterly.eligible_victims) as bigint) as eligible_victims,
        cast(sum(quarterly.victims_with_request) as bigint) as victims_with_request
    from quarterly
    inner join windows
        on quarterly.period_start between windows.window_start and windows.window_end
    group by all
),

windowed as (
    select
        windows.window_end as period_start,
        windows.window_start,
        windows.quarters_in_window,
        timed.force_code,
        timed.scheme,
        timed.age_band,
        timed.sex,
        timed.ethnicity_group,
        timed.disability,
        timed.offence_group,
        timed.days_notification_to_request
    from timed
    inner join windows
        on timed.period_start between windows.window_start and windows.window_end
),

by_cohort as (
    {{ uptake_by_cohort(
        'windowed', ['window_start', 'quarters_in_window'], ['force_code', 'days_notification_to_request']
    ) }}
),

victims_in_several_quarters as (
    -- the only victims a window can count twice (blank pseudonyms are not a victim)
    select victim_pseudonym
    from {{ ref('fct_vrr_decisions') }}
    where is_vrr_eligible and nullif(victim_pseudonym, '') is not null
    group by victim_pseudonym
    having min(period_start) < max(period_start)
),

victims as (
    -- those victims' eligible quarters, by force and cohort
    select distinct
        period_start, force_code, scheme, age_band, sex, ethnicity_group, disability, offence_group, has_request,
        victim_pseudonym
    from {{ ref('fct_vrr_decisions') }}
    where
        is_vrr_eligible
        and victim_pseudonym in (select victim_pseudonym from victims_in_several_quarters)
),

victim_cohorts as (
    {{ uptake_by_cohort('victims', columns=['force_code', 'has_request', 'victim_pseudonym']) }}
),

victim_quarters as (
    -- once per force and once over all forces; with_request: counted among the victims with a request
    select distinct period_start, force_code, cohort_dimension, cohort_value, victim_pseudonym, false as with_request
    from victim_cohorts
    union all
    select distinct period_start, 'ALL', cohort_dimension, cohort_value, victim_pseudonym, false
    from victim_cohorts
    union all
    select distinct period_start, force_code, cohort_dimension, cohort_value, victim_pseudonym, true
    from victim_cohorts
    where has_request
    union all
    select distinct period_start, 'ALL', cohort_dimension, cohort_value, victim_pseudonym, true
    from victim_cohorts
    where has_request
),

victim_spans as (
    select
        *,
        lag(period_start) over (
            partition by with_request, force_code, cohort_dimension, cohort_value, victim_pseudonym
            order by period_start
        ) as previous_quarter
    from victim_quarters
),

victim_windows as (
    -- a victim's quarter is in the windows ending in it and in the three quarters after; the window already
    -- counted the victim when it also holds their previous quarter (it ends less than twelve months after that
    -- quarter's start): the victims the window's quarterly counts add up once too many
    select
        windows.window_end as period_start,
        victim_spans.force_code,
        victim_spans.cohort_dimension,
        victim_spans.cohort_value,
        count(*) filter (where not victim_spans.with_request) as eligible_victims_counted_again,
        count(*) filter (where victim_spans.with_request) as victims_with_request_counted_again
    from victim_spans
    inner join windows
        on
            windows.window_end between victim_spans.period_start and victim_spans.period_start + interval 9 month
            and windows.window_end < victim_spans.previous_quarter + interval 12 month
    group by all
),

medians as (
    select
        period_start,
        {{ force_or_all() }} as force_code,
        cohort_dimension,
        cohort_value,
        median(days_notification_to_request::double) as median_days_to_request
    from by_cohort
    {{ by_force_and_all(['window_start', 'quarters_in_window', 'cohort_dimension', 'cohort_value']) }}
),

counts as (
    select
        pooled.period_start,
        pooled.window_start,
        pooled.quarters_in_window,
        pooled.force_code,
        pooled.cohort_dimension,
        pooled.cohort_value,
        pooled.eligible_decisions,
        pooled.decisions_with_request,
        pooled.requests,
        pooled.reviews_completed,
        pooled.reviews_overturned,
        pooled.decisions_timed_to_request,
        medians.median_days_to_request,
        pooled.eligible_victims - coalesce(victim_windows.eligible_victims_counted_again, 0) as eligible_victims,
        pooled.victims_with_request - coalesce(victim_windows.victims_with_request_counted_again, 0)
            as victims_with_request
    from pooled
    left join medians using (period_start, force_code, cohort_dimension, cohort_value)
    left join victim_windows using (period_start, force_code, cohort_dimension, cohort_value)
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
        cast(counts.eligible_victims as bigint) as eligible_victims,
        cast(counts.victims_with_request as bigint) as victims_with_request
    from counts
    cross join load_info
)

select * from final
