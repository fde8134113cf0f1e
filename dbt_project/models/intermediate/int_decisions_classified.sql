-- Latest decisions with VRR eligibility and the cohort categories from the reference seeds. A view: the marts that
-- read it (fct_vrr_decisions, by quarter when incremental) compute it as they build, rather than storing every
-- decision a second time.
{{ config(materialized='view') }}
with

decisions as {{ not_materialized() }} (
    select * from {{ ref('int_decisions_latest') }}
),

rules as (
    select * from {{ ref('vrr_eligibility_rules') }}
),

situations as (
    -- what eligibility depends on, each distinct combination once (thousands, not one per decision)
    select distinct outcome_code, decision_maker, suspect_interviewed, decision_date from decisions
),

eligibility as (
    -- the situations that a rule makes eligible, with the scheme (the first by name if several rules match)
    select
        situations.outcome_code,
        situations.decision_maker,
        situations.suspect_interviewed,
        situations.decision_date,
        min(rules.scheme) as scheme
    from situations
    inner join rules
        on
            situations.outcome_code = upper(trim(rules.outcome_code))
            and situations.decision_maker = lower(trim(rules.decision_maker))
            and (not rules.requires_suspect_interviewed or situations.suspect_interviewed = 'Y')
            and situations.decision_date >= rules.scheme_start_date
    group by all
),

ages as (
    -- one row per whole year of each band, so that a decision finds its band by its age
    select age_band, {{ series('min_age', 'max_age') }} as age from {{ ref('age_bands') }}
),

classified as (
    select
        -- the columns of int_decisions_latest, in its order, two of them read as the marts count them
        decisions.decision_id,
        decisions.crime_reference_pseudonym,
        decisions.victim_pseudonym,
        coalesce(decisions.force_code, 'UNKNOWN') as force_code,
        decisions.offence_code,
        decisions.outcome_code,
        decisions.decision_maker,
        decisions.suspect_interviewed,
        decisions.victim_sex_code,
        decisions.victim_ethnicity_code,
        decisions.victim_disability_code,
        decisions.withdrawal_stage_code,
        decisions.withdrawal_reason_code,
        decisions.victim_age,
        decisions.victim_age_raw,
        decisions.decision_date,
        -- a notification recorded before the decision is a data-quality issue: read as not notified
        case
            when decisions.victim_notified_date >= decisions.decision_date then decisions.victim_notified_date
        end as victim_notified_date,
        decisions.victim_notified_date_raw,
        decisions.source_file,
        decisions.extract_date,
        decisions.line_number,
        eligibility.outcome_code is not null as is_vrr_eligible,
        scheme_labels.scheme_label as scheme,
        coalesce(age_bands.age_band, 'Unknown') as age_band,
        coalesce(sex_codes.sex, 'Unknown') as sex,
        coalesce(ethnicity_codes.ethnicity_group, 'Not stated') as ethnicity_group,
        coalesce(disability_codes.disability, 'Unknown') as disability,
        coalesce(offence_groups.offence_group, 'Other offences') as offence_group,
        outcome_codes.outcome_group
    from decisions
    left join eligibility
        on
            decisions.outcome_code is not distinct from eligibility.outcome_code
            and decisions.decision_maker is not distinct from eligibility.decision_maker
            and decisions.suspect_interviewed is not distinct from eligibility.suspect_interviewed
            and decisions.decision_date is not distinct from eligibility.decision_date
    left join {{ ref('scheme_labels') }} as scheme_labels on eligibility.scheme = scheme_labels.scheme
    left join ages as age_bands on decisions.victim_age = age_bands.age
    left join {{ ref('sex_codes') }} as sex_codes on decisions.victim_sex_code = sex_codes.sex_code
    left join {{ ref('ethnicity_codes') }} as ethnicity_codes
        on decisions.victim_ethnicity_code = ethnicity_codes.ethnicity_code
    left join {{ ref('disability_codes') }} as disability_codes
        on decisions.victim_disability_code = disability_codes.disability_code
    left join {{ ref('offence_groups') }} as offence_groups on decisions.offence_code = offence_groups.offence_code
    left join {{ ref('outcome_codes') }} as outcome_codes on decisions.outcome_code = outcome_codes.outcome_code
)

select * from classified
