-- +goose Up
-- Access tokens issued before this moment are refused for the user: set when the password
-- changes, when the account is disabled and when an administrator logs the user out
-- everywhere. NULL: no token has been revoked.
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
