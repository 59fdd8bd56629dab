-- The views give the offer's instant as Unix seconds, `offered_ts`, their last column: `hour` is a
-- local hour of Europe/Paris, and on the autumn night the clocks go back, two hours are 02:xx (summer
-- time, then winter time). The indicators by hour tell them apart by the instant (docs/records.md);
-- an analyst can too. The views are otherwise the same.
-- (CREATE OR REPLACE, a column added at the end: the views built on them, an analyst's too, stay.)
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
WHERE r.kind = 'call';

-- survey_scores: every survey answer, on the record of the conversation it rated.
CREATE OR REPLACE VIEW survey_scores AS
SELECT call_id, kind, local_day AS day, local_hour AS hour, skill, site, survey_score, offered_ts
FROM call_records
WHERE survey_score IS NOT NULL;
