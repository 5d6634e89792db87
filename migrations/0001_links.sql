-- Links. Codes are compared as bytes (the "C" collation), as every other store compares them,
-- so a listing's ties order the same everywhere and no locale can make two codes equal.
-- A deleted link stays as a tombstone row (deleted_at set, no destination, no expiry, no owner)
-- so its code is never issued again.
CREATE TABLE links (
    short_code       text COLLATE "C" PRIMARY KEY,
    long_url         text        NOT NULL,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz,
    click_count      bigint      NOT NULL DEFAULT 0,
    last_accessed_at timestamptz,
    owner_id         text,
    deleted_at       timestamptz
);

-- The expiry sweep reads this partial index only: its cost follows the expired links, not the
-- table.
CREATE INDEX links_expires_at ON links (expires_at) WHERE expires_at IS NOT NULL;

-- "My links, newest first": an index range per owner, read backwards.
CREATE INDEX links_owner ON links (owner_id, created_at, short_code) WHERE owner_id IS NOT NULL;

-- The last click write of each instance on each link, kept in the same statement as the
-- increment, so a write retried after a timeout whose first attempt did land is not counted
-- twice. The statement adds `clicks` and moves `last_at` of exactly the marks it could move
-- (their RETURNING rows), which is why the write's figures are kept beside its seq. Marks go
-- with their link; the sweep drops those of instances silent for a day.
CREATE TABLE click_writes (
    short_code text COLLATE "C" NOT NULL REFERENCES links (short_code) ON DELETE CASCADE,
    instance   bigint      NOT NULL,
    seq        bigint      NOT NULL,
    clicks     bigint      NOT NULL,
    last_at    timestamptz NOT NULL,
    PRIMARY KEY (short_code, instance)
);
