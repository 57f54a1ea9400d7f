-- +goose Up
-- Scan to verify (扫码验真): whether a seal's stamps carry the QR code of their use's public
-- verification address (on unless a seal admin turns it off for the seal).
ALTER TABLE seals ADD COLUMN scan_to_verify boolean NOT NULL DEFAULT true;

-- The verification address printed on a use's stamp: its token (128 random bits, base64url),
-- unguessable unlike the register number, and the address as printed. Written in the
-- transaction that records the use; never changed or removed, like the register.
CREATE TABLE seal_use_links (
    use_id      uuid PRIMARY KEY REFERENCES seal_uses (id),
    token       text NOT NULL UNIQUE CHECK (token ~ '^[A-Za-z0-9_-]{22}$'),
    url         text NOT NULL CHECK (length(url) BETWEEN 1 AND 500),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER seal_use_links_append_only BEFORE UPDATE OR DELETE ON seal_use_links
    FOR EACH ROW EXECUTE FUNCTION seal_register_is_append_only();

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
