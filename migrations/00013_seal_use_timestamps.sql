-- +goose Up
-- The signature timestamp of each seal use (PAdES B-T): the TSA's time (TSTInfo genTime),
-- the TSA's name and the token's serial number. Uses recorded before timestamps were made
-- have none.
ALTER TABLE seal_uses
    ADD COLUMN timestamp_at timestamptz,
    ADD COLUMN tsa_name text,
    ADD COLUMN tsa_serial numeric(40, 0),
    ADD CONSTRAINT seal_uses_timestamp_whole CHECK ((timestamp_at IS NULL) = (tsa_name IS NULL) AND (tsa_name IS NULL) = (tsa_serial IS NULL));

-- +goose Down
ALTER TABLE seal_uses DROP CONSTRAINT seal_uses_timestamp_whole,
    DROP COLUMN tsa_serial, DROP COLUMN tsa_name, DROP COLUMN timestamp_at;
