-- Views for analysts and Grafana (docs/records.md). The same text on SQLite and PostgreSQL.
--
-- call_outcomes: one row per call offered on the line (kind = 'call'), with its outcome split into
-- the indicators' counts. A call whose caller accepted a callback counts as answered when that
-- callback was answered; it takes the site of the agent who answered the callback.
CREATE VIEW call_outcomes AS
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
    CASE WHEN r.outcome = 'closed' OR (r.outcome = 'abandoned' AND COALESCE(r.wait_s, 0) < 5)
         THEN 0 ELSE 1 END AS offered,
    CASE WHEN r.outcome = 'abandoned' AND COALESCE(r.wait_s, 0) < 5 THEN 1 ELSE 0 END AS short_abandoned,
    CASE WHEN r.outcome = 'abandoned' AND COALESCE(r.wait_s, 0) >= 5 THEN 1 ELSE 0 END AS abandoned,
    CASE WHEN r.outcome = 'overflowed' THEN 1 ELSE 0 END AS overflowed,
    CASE WHEN r.outcome = 'answered' THEN 1 ELSE 0 END AS answered_live,
    CASE WHEN r.outcome = 'callback' AND cb.outcome = 'answered' THEN 1 ELSE 0 END AS answered_by_callback,
    CASE WHEN r.outcome = 'answered' OR (r.outcome = 'callback' AND cb.outcome = 'answered')
         THEN 1 ELSE 0 END AS answered
FROM call_records r
LEFT JOIN call_records cb
    ON cb.kind = 'callback' AND cb.origin_call_id = r.call_id AND r.outcome = 'callback'
WHERE r.kind = 'call';

-- survey_scores: every survey answer, on the record of the conversation it rated.
CREATE VIEW survey_scores AS
SELECT call_id, kind, local_day AS day, local_hour AS hour, skill, site, survey_score
FROM call_records
WHERE survey_score IS NOT NULL;

-- daily_site_indicators: the answer rate per local day and site (Grafana's daily panel).
CREATE VIEW daily_site_indicators AS
SELECT
    day,
    site,
    SUM(offered) AS offered,
    SUM(answered) AS answered,
    SUM(short_abandoned) AS short_abandoned,
    CASE WHEN SUM(offered) > 0 THEN 1.0 * SUM(answered) / SUM(offered) END AS answer_rate
FROM call_outcomes
GROUP BY day, site;

-- daily_site_satisfaction: survey answers per local day and site.
CREATE VIEW daily_site_satisfaction AS
SELECT
    day,
    site,
    COUNT(*) AS n,
    AVG(1.0 * survey_score) AS mean,
    1.0 * SUM(CASE WHEN survey_score >= 4 THEN 1 ELSE 0 END) / COUNT(*) AS satisfied_share
FROM survey_scores
GROUP BY day, site;
