-- +goose Up
-- Re-keying a seal (sealvault keys move): the seal gets a new key (in the PKCS#11 token) and
-- a new certificate; the certificates it had before are kept here, so that the uses they
-- signed still find their seal when verified. Append-only, like the register.
CREATE TABLE seal_certificates (
    seal_id      uuid NOT NULL REFERENCES seals (id),
    cert_serial  text NOT NULL UNIQUE,
    cert_der     bytea NOT NULL,
    replaced_at  timestamptz NOT NULL,
    replaced_by  uuid NOT NULL REFERENCES users (id),
    PRIMARY KEY (seal_id, cert_serial)
);
CREATE TRIGGER seal_certificates_append_only BEFORE UPDATE OR DELETE ON seal_certificates
    FOR EACH ROW EXECUTE FUNCTION seal_register_is_append_only();

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
