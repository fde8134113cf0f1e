-- Latest decisions with VRR eligibility and the cohort categories from the reference seeds. A view: the marts that
-- read it (fct_vrr_decisions, by quarter when incremental) compute it as they build, rather than storing every
-- decision a second time.
{{ config(materialized='view') }}
with

decisions as (
    select * from {{ ref('int_decisions_latest') }}
),

rules as (
    select * from {{ ref('vrr_eligibility_rules') }}
),

eligibility as (
    -- the rules that make the decision eligible: how many, and the first scheme by name. A scalar subquery, which
    -- DuckDB evaluates once per distinct outcome, decision maker, interview and date rather than per decision.
    select
        decisions.*,
        (
            select {'rules': count(*), 'scheme': min(rules.scheme)}
            from rules
            where decisions.outcome_code = upper(trim(rules.outcome_code))
                and decisions.decision_maker = lower(trim(rules.decision_maker))
                and (not rules.requires_suspect_interviewed or decisions.suspect_interviewed = 'Y')
                and decisions.decision_date >= rules.scheme_start_date
        ) as eligible
    from decisions
),

classified as (
    select
        decisions.* exclude (eligible) replace (
            coalesce(decisions.force_code, 'UNKNOWN') as force_code,
            -- a notification recorded before the decision is a data-quality issue: read as not notified
            case
                when decisions.victim_notified_date >= decisions.decision_date then decisions.victim_notified_date
            end as victim_notified_date
        ),
        decisions.eligible.rules > 0 as is_vrr_eligible,
        scheme_labels.scheme_label as scheme,
        coalesce(age_bands.age_band, 'Unknown') as age_band,
        coalesce(sex_codes.sex, 'Unknown') as sex,
        coalesce(ethnicity_codes.ethnicity_group, 'Not stated') as ethnicity_group,
        coalesce(disability_codes.disability, 'Unknown') as disability,
        coalesce(offence_groups.offence_group, 'Other offences') as offence_group,
        outcome_codes.outcome_group
    from eligibility as decisions
    left join {{ ref('scheme_labels') }} as scheme_labels on decisions.eligible.scheme = scheme_labels.scheme
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
