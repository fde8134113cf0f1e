-- Working-day calendar for England and Wales: one row per date of every year the bank-holiday seed covers.
-- working_day_index counts the working days up to and including the date, so the working days from an event
-- on date A to a later date B (the working days d with A < d <= B) are index(B) - index(A).
with

bank_holidays as (
    select * from {{ ref('bank_holidays_england_wales') }}
),

bounds as (
    select
        make_date(min(year(holiday_date)), 1, 1) as first_day,
        make_date(max(year(holiday_date)), 12, 31) as last_day
    from bank_holidays
),

series as (
    select {{ series('first_day', 'last_day', 'interval 1 day') }} as calendar_day
    from bounds
),

days as (
    select cast(calendar_day as date) as calendar_date
    from series
),

flagged as (
    select
        days.calendar_date,
        {{ iso_day_of_week('days.calendar_date') }} in (6, 7) as is_weekend,
        bank_holidays.holiday_date is not null as is_bank_holiday,
        bank_holidays.name as bank_holiday_name
    from days
    left join bank_holidays on days.calendar_date = bank_holidays.holiday_date
),

final as (
    select
        calendar_date,
        is_weekend,
        is_bank_holiday,
        bank_holiday_name,
        not is_weekend and not is_bank_holiday as is_working_day,
        cast(
            sum(case when not is_weekend and not is_bank_holiday then 1 else 0 end)
                over (order by calendar_date rows between unbounded preceding and current row)
            as integer
        ) as working_day_index
    from flagged
)

select * from final
