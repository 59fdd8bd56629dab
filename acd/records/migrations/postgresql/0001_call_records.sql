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
    offered_at       TIMESTAMPTZ    NOT NULL,
    queued_at        TIMESTAMPTZ,
    connected_at     TIMESTAMPTZ,
    answered_at      TIMESTAMPTZ,
    ended_at         TIMESTAMPTZ,
    wait_s           DOUBLE PRECISION,
    outcome          TEXT    NOT NULL,
    end_reason       TEXT,
    callback_id      TEXT,
    appointment_id   TEXT,
    origin_call_id   TEXT,
    overflow_service TEXT,
    survey_score     INTEGER,
    offered_ts       DOUBLE PRECISION    NOT NULL,
    local_day        DATE    NOT NULL,
    local_hour       INTEGER NOT NULL,
    PRIMARY KEY (call_id, kind)
);
CREATE INDEX call_records_day ON call_records (local_day, skill);
CREATE INDEX call_records_order ON call_records (offered_ts, call_id, kind);
CREATE INDEX call_records_origin ON call_records (origin_call_id) WHERE origin_call_id IS NOT NULL;
