-- Link health: one row per live link, made with the link and gone with it (the sweep's delete
-- cascades; a delete, which keeps the link as a tombstone, deletes it explicitly). `due_at` is
-- the schedule and the lease (a lease moves it forward); `record` is the state and the latest
-- checks as text (repository::health::codec).
CREATE TABLE link_health (
    short_code   text COLLATE "C" PRIMARY KEY REFERENCES links (short_code) ON DELETE CASCADE,
    due_at       timestamptz NOT NULL,
    checked      boolean     NOT NULL DEFAULT false,
    record       text,
    broken_since timestamptz
);

CREATE INDEX link_health_due ON link_health (due_at);
CREATE INDEX link_health_broken ON link_health (broken_since) WHERE broken_since IS NOT NULL;

INSERT INTO link_health (short_code, due_at)
    SELECT short_code, created_at FROM links WHERE deleted_at IS NULL;
