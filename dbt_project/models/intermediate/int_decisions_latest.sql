-- The latest version of each decision: the row from the newest extract wins.
{{ latest_version(ref('stg_landing__decisions'), 'decision_id') }}
