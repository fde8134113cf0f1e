{#- Every year of the working-day calendar has its bank holidays (England and Wales always has at least 8):
    a year missing from the bank_holidays_england_wales seed would silently count its holidays as working days. -#}
select year(calendar_date) as calendar_year, count_if(is_bank_holiday) as bank_holidays
from {{ ref('int_working_days') }}
group by year(calendar_date)
having count_if(is_bank_holiday) < 8
