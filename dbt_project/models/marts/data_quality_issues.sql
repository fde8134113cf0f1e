-- Problems in optional fields of the records that count (latest versions). The record still counts; the value
-- is read as Unknown / Not stated / null. One row per record and problem, with the value as received.
with

-- (not materialized: each check below scans only the columns it needs, rather than every decision being copied once)
decisions as {{ not_materialized() }} (
    select * from {{ ref('int_decisions_latest') }}
),

requests as {{ not_materialized() }} (
    select * from {{ ref('int_vrr_requests_latest') }}
),

ethnicity_codes as (select ethnicity_code from {{ ref('ethnicity_codes') }}),

sex_codes as (select sex_code from {{ ref('sex_codes') }}),

withdrawal_stages as (select stage_code from {{ ref('withdrawal_stages') }}),

withdrawal_reasons as (select reason_code from {{ ref('withdrawal_reasons') }}),

decision_issues as (
    select
        decision_id as record_key, 'victim_age' as field, 'invalid_age' as issue_code,
        'age is not a whole number of years from 0 to 120; read as Unknown' as issue, victim_age_raw as raw_value,
        source_file, extract_date, line_number
    from decisions
    where victim_age_raw is not null and (victim_age is null or victim_age > 120)

    union all
    select
        decision_id, 'victim_ethnicity', 'unknown_ethnicity_code',
        'not a self-defined ethnicity 18+1 code; read as Not stated', victim_ethnicity_code,
        source_file, extract_date, line_number
    from decisions
    where
        victim_ethnicity_code is not null
        and victim_ethnicity_code not in (select ethnicity_code from ethnicity_codes)

    union all
    select
        decision_id, 'victim_sex', 'unknown_sex_code', 'not F, M, X or U; read as Unknown', victim_sex_code,
        source_file, extract_date, line_number
    from decisions
    where
        victim_sex_code is not null and victim_sex_code <> 'U'
        and victim_sex_code not in (select sex_code from sex_codes)

    union all
    select
        decision_id, 'victim_disability', 'unknown_disability_code', 'not Y, N or U; read as Unknown',
        victim_disability_code, source_file, extract_date, line_number
    from decisions
    where victim_disability_code is not null and victim_disability_code not in ('Y', 'N', 'U')

    union all
    select
        decision_id, 'suspect_interviewed', 'unknown_suspect_interviewed', 'not Y or N; read as not interviewed',
        suspect_interviewed, source_file, extract_date, line_number
    from decisions
    where suspect_interviewed is not null and suspect_interviewed not in ('Y', 'N')

    union all
    select
        decision_id, 'victim_notified_date', 'unparseable_notification_date',
        'not a real date in YYYY-MM-DD or DD/MM/YYYY form; read as not notified', victim_notified_date_raw,
        source_file, extract_date, line_number
    from decisions
    where victim_notified_date_raw is not null and victim_notified_date is null

    union all
    select
        decision_id, 'victim_notified_date', 'notification_before_decision',
        'the victim is recorded as told of the decision before it was made; read as not notified',
        victim_notified_date_raw, source_file, extract_date, line_number
    from decisions
    where victim_notified_date < decision_date

    {% for field, seed, code_column in [('withdrawal_stage', 'withdrawal_stages', 'stage_code'),
                                         ('withdrawal_reason', 'withdrawal_reasons', 'reason_code')] %}
        union all
        select
            decision_id,
            '{{ field }}',
            'unknown_{{ field }}',
            'not a code of the {{ seed }} seed; read as Not recorded',
            {{ field }}_code, source_file, extract_date, line_number
        from decisions
        where {{ field }}_code is not null and {{ field }}_code not in (select {{ code_column }} from {{ seed }})

        union all
        select
            decision_id, '{{ field }}', '{{ field }}_not_recorded',
            'the victim withdrew support (outcome 14 or 16) but the {{ field | replace('_', ' ') }} is blank', null,
            source_file, extract_date, line_number
        from decisions
        where outcome_code in ('14', '16') and {{ field }}_code is null
    {% endfor %}

    union all
    select
        decision_id, 'force_code', 'missing_force_code', 'the force code is blank; counted under UNKNOWN', null,
        source_file, extract_date, line_number
    from decisions
    where force_code is null
),

request_issues as (
    select
        request_id as record_key, 'review_completed_date' as field,
        'unparseable_review_completed_date' as issue_code,
        'not a real date in YYYY-MM-DD or DD/MM/YYYY form; read as null' as issue,
        review_completed_date_raw as raw_value, source_file, extract_date, line_number
    from requests
    where review_completed_date_raw is not null and review_completed_date is null

    union all
    select
        request_id, 'review_completed_date', 'missing_review_completed_date',
        'the review has a result but no completion date; counted in no quarter of completion', null,
        source_file, extract_date, line_number
    from requests
    where review_result in ('decision_stands', 'decision_overturned') and review_completed_date_raw is null

    union all
    select
        request_id, 'review_stage', 'unknown_review_stage',
        'not review, local_resolution or independent_review; kept as given', review_stage,
        source_file, extract_date, line_number
    from requests
    where review_stage is not null and review_stage not in ('review', 'local_resolution', 'independent_review')
),

final as (
    select 'decision' as record_kind, * from decision_issues
    union all
    select 'vrr_request' as record_kind, * from request_issues
)

select * from final
