-- +goose Up
-- Failed logins, for throttling password guessing across every serve process. The username
-- as typed is not kept (it could be anything, personal data included): only the SHA-256 of
-- its trimmed, lower-cased form. Rows older than the throttling window are pruned as logins
-- happen.
CREATE TABLE login_failures (
    username_hash  text NOT NULL CHECK (username_hash ~ '^[0-9a-f]{64}$'),
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_idx ON login_failures (username_hash, at);

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
