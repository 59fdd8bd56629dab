-- A record is one contact: its key is the call id, the kind AND the offer's instant, `offered_ts`
-- (0001 keyed it by `(call_id, kind)`). The platform may offer a call id again once acd has
-- forgotten the first call (a restart of the memory state, or past `routing.ended_call_retention`):
-- that other caller's record used to replace the first one's, which took its survey score. Every
-- rewrite of a record (a late answer, a callback's outcome, a replay) keeps its offer's instant, so
-- it still reaches its own row. The view `call_outcomes` joins a call to the callback of the same
-- contact. No row changes: the records are copied as they are.
-- SQLite cannot change a primary key: the table is built again (the views and indexes with it).
DROP VIEW daily_site_indicators;
DROP VIEW daily_site_satisfaction;
DROP VIEW call_outcomes;
DROP VIEW survey_scores;
ALTER TABLE call_records RENAME TO call_records_0004;

CREATE TABLE call_records (
    call_id          TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    skill            TEXT    NOT NULL,
    department       TEXT,
    site             TEXT,
    agent_id         TEXT,
    priority         INTEGER NOT NULL DEFAULT 0,
    needs            TEXT    NOT NULL DEFAULT '',
    offered_at       TEXT    NOT NULL,
    queued_at        TEXT,
    connected_at     TEXT,
    answered_at      TEXT,
    ended_at         TEXT,
    wait_s           REAL,
    outcome          TEXT    NOT NULL,
    end_reason       TEXT,
    callback_id      TEXT,
    appointment_id   TEXT,
    origin_call_id   TEXT,
    overflow_service TEXT,
    survey_score     INTEGER,
    offered_ts       REAL    NOT NULL,
    local_day        TEXT    NOT NULL,
    local_hour       INTEGER NOT NULL,
    PRIMARY KEY (call_id, kind, offered_ts)
);
INSERT INTO call_records SELECT * FROM call_records_0004;
DROP TABLE call_records_0004;
CREATE INDEX call_records_day ON call_records (local_day, skill);
CREATE INDEX call_records_order ON call_records (offered_ts, call_id, kind);
CREATE INDEX call_records_origin ON call_records (origin_call_id) WHERE origin_call_id IS NOT NULL;

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

-- survey_scores: every survey answer, on the record of the conversation it rated.
CREATE VIEW survey_scores AS
SELECT call_id, kind, local_day AS day, local_hour AS hour, skill, site, survey_score, offered_ts
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
