-- Click analytics. A link's human and bot totals live on its row; its hourly buckets and daily
-- breakdowns are keyed by code first, so one link's rows are one range of the primary key.
-- They go with their link (the sweep deletes it; a delete, which keeps the link as a
-- tombstone, deletes them explicitly).
ALTER TABLE links
    ADD COLUMN human_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN bot_clicks   bigint NOT NULL DEFAULT 0;

CREATE TABLE click_hours (
    short_code text COLLATE "C" NOT NULL REFERENCES links (short_code) ON DELETE CASCADE,
    hour       bigint NOT NULL,
    human      bigint NOT NULL,
    bot        bigint NOT NULL,
    PRIMARY KEY (short_code, hour)
);

CREATE TABLE click_breakdown (
    short_code text COLLATE "C" NOT NULL REFERENCES links (short_code) ON DELETE CASCADE,
    day        bigint NOT NULL,
    dimension  text   NOT NULL,
    key        text COLLATE "C" NOT NULL,
    clicks     bigint NOT NULL,
    PRIMARY KEY (short_code, day, dimension, key)
);
