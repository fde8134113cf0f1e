with

source as (
    select * from {{ source('landing', 'decisions') }}
),

renamed as (
    select
        -- ids
        trim(decision_id) as decision_id,
        nullif(trim(crime_reference), '') as crime_reference_pseudonym,
        nullif(trim(victim_id), '') as victim_pseudonym,

        -- codes, compared trimmed and case-insensitively
        nullif(upper(trim(force_code)), '') as force_code,
        upper(trim(offence_code)) as offence_code,
        upper(trim(outcome_code)) as outcome_code,
        lower(trim(decision_maker)) as decision_maker,
        {{ yes_no('suspect_interviewed') }} as suspect_interviewed,
        nullif(upper(trim(victim_sex)), '') as victim_sex_code,
        nullif(upper(trim(victim_ethnicity)), '') as victim_ethnicity_code,
        {{ yes_no('victim_disability') }} as victim_disability_code,
        nullif(lower(trim(withdrawal_stage)), '') as withdrawal_stage_code,
        nullif(lower(trim(withdrawal_reason)), '') as withdrawal_reason_code,

        -- numbers: whole years only
        case
            when {{ full_match('trim(victim_age)', '[0-9]+') }} then try_cast(trim(victim_age) as integer)
        end as victim_age,
        nullif(trim(victim_age), '') as victim_age_raw,

        -- dates
        cast(decision_date as date) as decision_date,
        {{ date_or_null('trim(victim_notified_date)') }} as victim_notified_date,
        nullif(trim(victim_notified_date), '') as victim_notified_date_raw,

        -- lineage
        source_file,
        extract_date,
        line_number
    from source
)

select * from renamed
