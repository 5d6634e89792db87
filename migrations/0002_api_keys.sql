-- API keys, as SHA-256 hashes only, with their owner and last use.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    hash         text        NOT NULL UNIQUE,
    name         text        NOT NULL,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    owner_id     text,
    last_used_at timestamptz
);

CREATE INDEX api_keys_owner ON api_keys (owner_id, created_at, id) WHERE owner_id IS NOT NULL;
