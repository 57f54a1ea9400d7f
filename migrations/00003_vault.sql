-- +goose Up
-- Pins of the blob store's garbage collector (vault.Pins). An upload pins a digest, committed,
-- before it stores the blob; the transaction that writes the row naming the blob pins it
-- again (locking the pin row) and checks the blob is there. GC deletes a blob only under the
-- lock on its pin row and never while the pin is younger than the grace period, so no row
-- ever names a blob GC deleted. GC drops pins older than the grace period.
CREATE TABLE vault_pins (
    digest    text PRIMARY KEY CHECK (digest ~ '^[0-9a-f]{64}$'),
    pinned_at timestamptz NOT NULL
);
CREATE INDEX vault_pins_pinned_at_idx ON vault_pins (pinned_at);

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
