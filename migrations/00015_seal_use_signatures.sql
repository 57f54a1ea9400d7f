-- +goose Up
-- Long-term validation (PAdES B-LT): a sealed document is followed by an incremental update
-- holding its validation data, so the register finds a use by its signature rather than by
-- the digest of the signed revision alone: signature_digest is the SHA-256 of the
-- signature's /Contents value, the same in the stored output and in every later revision of
-- it (a renewed archive timestamp, a further seal). Null for uses from before.
ALTER TABLE seal_uses ADD COLUMN signature_digest text CHECK (signature_digest ~ '^[0-9a-f]{64}$');
CREATE INDEX seal_uses_signature_idx ON seal_uses (signature_digest);

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
