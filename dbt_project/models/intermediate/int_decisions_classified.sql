-- Latest decisions with VRR eligibility and the cohort categories from the reference seeds. Incremental by quarter
-- of the decision date, like int_decisions_latest.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_affected_quarters('decision_date') }}",
) }}
with

decisions as (
    select * from {{ ref('int_decisions_latest') }}
    {% if is_incremental() -%}
    where {{ in_affected_quarters('decision_date') }}
    {%- endif %}
),

rules as (
    select * from {{ ref('vrr_eligibility_rules') }}
),

eligibility as (
    select
        decisions.decision_id,
        min(rules.scheme) as scheme
    from decisions
    inner join rules
        on decisions.outcome_code = upper(trim(rules.outcome_code))
        and decisions.decision_maker = lower(trim(rules.decision_maker))
        and (not rules.requires_suspect_interviewed or decisions.suspect_interviewed = 'Y')
        and decisions.decision_date >= rules.scheme_start_date
    group by decisions.decision_id
),

classified as (
    select
        decisions.* replace (
            coalesce(decisions.force_code, 'UNKNOWN') as force_code,
            -- a notification recorded before the decision is a data-quality issue: read as not notified
            case
                when decisions.victim_notified_date >= decisions.decision_date then decisions.victim_notified_date
            end as victim_notified_date
        ),
        eligibility.decision_id is not null as is_vrr_eligible,
        scheme_labels.scheme_label as scheme,
        coalesce(age_bands.age_band, 'Unknown') as age_band,
        coalesce(sex_codes.sex, 'Unknown') as sex,
        coalesce(ethnicity_codes.ethnicity_group, 'Not stated') as ethnicity_group,
        coalesce(disability_codes.disability, 'Unknown') as disability,
        coalesce(offence_groups.offence_group, 'Other offences') as offence_group,
        outcome_codes.outcome_group
    from decisions
    left join eligibility on decisions.decision_id = eligibility.decision_id
    left join {{ ref('scheme_labels') }} as scheme_labels on eligibility.scheme = scheme_labels.scheme
    left join {{ ref('age_bands') }} as age_bands
        on decisions.victim_age between age_bands.min_age and age_bands.max_age
    left join {{ ref('sex_codes') }} as sex_codes on decisions.victim_sex_code = sex_codes.sex_code
    left join {{ ref('ethnicity_codes') }} as ethnicity_codes
        on decisions.victim_ethnicity_code = ethnicity_codes.ethnicity_code
    left join {{ ref('disability_codes') }} as disability_codes
        on decisions.victim_disability_code = disability_codes.disability_code
    left join {{ ref('offence_groups') }} as offence_groups on decisions.offence_code = offence_groups.offence_code
    left join {{ ref('outcome_codes') }} as outcome_codes on decisions.outcome_code = outcome_codes.outcome_code
)

select * from classified
