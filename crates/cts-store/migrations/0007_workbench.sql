-- The review workbench hardened for daily use (issue 10):
-- * drafts remember which browser tab wrote them and its change counter,
--   so a reload (or a save flushed as the page was left) in one tab is
--   never taken for a second tab editing the same draft;
-- * sign-in failures are throttled per account name and client address with
--   growing delays (a row per pair, counted atomically), not a lock anyone
--   could trigger; unknown names are throttled exactly like real ones;
-- * sessions end after a spell of inactivity as well as at their expiry;
-- * usernames are unique without regard to case.

ALTER TABLE drafts ADD COLUMN client TEXT NOT NULL DEFAULT '';   -- the tab's random id ('' when unknown)
ALTER TABLE drafts ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;    -- the tab's change counter at this save

CREATE TABLE login_failures (
    account      TEXT NOT NULL,           -- the name tried, lowercased (known or not)
    address      TEXT NOT NULL,           -- client IP address
    failures     INTEGER NOT NULL,        -- failures in a row from this address for this name
    next_allowed INTEGER NOT NULL,        -- unix seconds before which attempts are refused unchecked
    PRIMARY KEY (account, address)
) WITHOUT ROWID;

ALTER TABLE sessions ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;  -- unix seconds, refreshed at most once a minute

CREATE UNIQUE INDEX users_username_nocase ON users (username COLLATE NOCASE);
UPDATE sessions SET last_seen = CAST(strftime('%s', 'now') AS INTEGER);
