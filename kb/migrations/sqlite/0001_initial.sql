-- The KB as it has been since schema version 1 (kb.sqlite3 files written before
-- migrations existed are at this version and open unchanged).
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    region TEXT NOT NULL,
    valid_from TEXT,
    valid_to TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_status ON entries(status);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id TEXT NOT NULL,
    op TEXT NOT NULL,
    revision INTEGER NOT NULL,
    at TEXT NOT NULL,
    by TEXT NOT NULL,
    data TEXT NOT NULL  -- last column: reading the others never touches its overflow pages
);
CREATE INDEX IF NOT EXISTS changes_entry ON changes(entry_id, seq);
