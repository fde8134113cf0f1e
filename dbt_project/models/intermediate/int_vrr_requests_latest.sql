-- The latest version of each VRR request: the row from the newest extract wins.
{{ latest_version(ref('stg_landing__vrr_requests'), 'request_id') }}
