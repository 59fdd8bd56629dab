"""Call records: one row per ended contact (call, callback, appointment) in a real database, and
the published indicators as queries over those rows. See docs/records.md.

- `model`: the record and how it is built from the engine's contacts;
- `sink`: the engine observer that queues records and the writer task that stores them;
- `db`: the SQLite (embedded default) and PostgreSQL backends, with their versioned migrations;
- `queries`: the indicators and the records' export, the same SQL on both backends.
"""
