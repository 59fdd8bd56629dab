-- A record is one contact: its key is the call id, the kind AND the offer's instant, `offered_ts`
-- (0001 keyed it by `(call_id, kind)`). The platform may offer a call id again once acd has
-- forgotten the first call (a restart of the memory state, or past `routing.ended_call_retention`):
-- that other caller's record used to replace the first one's, which took its survey score. Every
-- rewrite of a record (a late answer, a callback's outcome, a replay) keeps its offer's instant, so
-- it still reaches its own row. The view `call_outcomes` joins a call to the callback of the same
-- contact. No row changes: the records are copied as they are.
-- (CREATE OR REPLACE: the same columns, so the views built on it, an analyst's too, stay.)
ALTER TABLE call_records DROP CONSTRAINT call_records_pkey;
ALTER TABLE call_records ADD PRIMARY KEY (call_id, kind, offered_ts);

CREATE OR REPLACE VIEW call_outcomes AS
SELECT
    r.call_id,
    r.local_day AS day,
    r.local_hour AS hour,
    r.skill,
    COALESCE(r.site, cb.site) AS site,
    r.department,
    r.outcome,
    r.wait_s,
    r.offered_at,
    CASE WHEN r.outcome = 'closed' OR (r.outcome = 'abandoned' AND COALESCE(r.wait_s, 0) < 5.0005)
         THEN 0 ELSE 1 END AS offered,
    CASE WHEN r.outcome = 'abandoned' AND COALESCE(r.wait_s, 0) < 5.0005 THEN 1 ELSE 0 END AS short_abandoned,
    CASE WHEN r.outcome = 'abandoned' AND COALESCE(r.wait_s, 0) >= 5.0005 THEN 1 ELSE 0 END AS abandoned,
    CASE WHEN r.outcome = 'overflowed' THEN 1 ELSE 0 END AS overflowed,
    CASE WHEN r.outcome = 'answered' THEN 1 ELSE 0 END AS answered_live,
    CASE WHEN r.outcome = 'callback' AND cb.outcome = 'answered' THEN 1 ELSE 0 END AS answered_by_callback,
    CASE WHEN r.outcome = 'answered' OR (r.outcome = 'callback' AND cb.outcome = 'answered')
         THEN 1 ELSE 0 END AS answered,
    r.offered_ts
FROM call_records r
LEFT JOIN call_records cb
    ON cb.kind = 'callback' AND cb.origin_call_id = r.call_id AND r.outcome = 'callback'
    -- the callback of this contact of the call id: no other contact of the id is nearer before it
    -- (offered after this one and not after the callback), and this one is not after it while an
    -- earlier one is (a call id offered again once acd had forgotten it, docs/records.md)
    AND NOT EXISTS (
        SELECT 1 FROM call_records n
        WHERE n.call_id = r.call_id AND n.kind = 'call' AND n.offered_ts <> r.offered_ts
          AND ((n.offered_ts > r.offered_ts AND n.offered_ts <= cb.offered_ts)
               OR (r.offered_ts > cb.offered_ts AND n.offered_ts < r.offered_ts))
    )
WHERE r.kind = 'call';
