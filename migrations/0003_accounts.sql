-- Users, sessions and invites. User names are stored lower-case, so UNIQUE is case-insensitive
-- uniqueness; sessions and invites are keyed by the SHA-256 of their token, never the token.
CREATE TABLE users (
    id            text PRIMARY KEY,
    username      text        NOT NULL UNIQUE,
    display_name  text,
    password_hash text        NOT NULL,
    role          text        NOT NULL,
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz
);

CREATE TABLE sessions (
    key          text PRIMARY KEY,
    user_id      text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE invites (
    key        text PRIMARY KEY,
    role       text        NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
