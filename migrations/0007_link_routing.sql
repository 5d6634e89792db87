-- Where a link sends people beyond its destination: its own redirect status, query and path
-- forwarding, rules and whether crawlers may follow it (domain::Routing as JSON; NULL: a plain
-- link, which is every link made before this migration).
ALTER TABLE links ADD COLUMN routing text;
