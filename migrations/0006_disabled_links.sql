-- Links an administrator disabled: they answer 404 like unknown ones, keep their code, clicks
-- and owner, and can be enabled again (NULL: enabled).
ALTER TABLE links ADD COLUMN disabled_at timestamptz;
