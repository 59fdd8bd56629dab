-- One row per ended contact: a call, a callback or an appointment (docs/records.md).
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
    PRIMARY KEY (call_id, kind)
);
CREATE INDEX call_records_day ON call_records (local_day, skill);
CREATE INDEX call_records_order ON call_records (offered_ts, call_id, kind);
CREATE INDEX call_records_origin ON call_records (origin_call_id) WHERE origin_call_id IS NOT NULL;
