-- A short abandon is a caller who hung up within 5 s of waiting, 5 s included, the wait compared as
-- the records publish it (to the millisecond): `wait_s < 5.0005`. 0002 counted `wait_s < 5`, so a
-- hang-up at 5.000 s was a short abandon or not by a few tenths of a microsecond of float noise
-- (the difference of two times given with microseconds), one way on SQLite, the other on
-- PostgreSQL. The view is otherwise the same.
-- (CREATE OR REPLACE: the same columns, so the views built on it, an analyst's too, stay.)
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
         THEN 1 ELSE 0 END AS answered
FROM call_records r
LEFT JOIN call_records cb
    ON cb.kind = 'callback' AND cb.origin_call_id = r.call_id AND r.outcome = 'callback'
WHERE r.kind = 'call';
