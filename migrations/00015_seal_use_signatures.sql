-- +goose Up
-- Long-term validation (PAdES B-LT, B-LTA): a sealed document is followed by incremental
-- updates holding its validation data and a document timestamp, so the register finds a use
-- by its signature rather than by the digest of the signed revision alone: signature_digest
-- is the SHA-256 of the signature's /Contents value, the same in the stored output and in
-- every later revision of it (a renewed archive timestamp, a further seal). Null for uses
-- from before.
ALTER TABLE seal_uses ADD COLUMN signature_digest text CHECK (signature_digest ~ '^[0-9a-f]{64}$');
CREATE INDEX seal_uses_signature_idx ON seal_uses (signature_digest);

-- The archive versions of a use's sealed document: version 1 is the output as sealed (its
-- document timestamp), each later one a renewal (sealvault seal renew-timestamps) that
-- appended validation data and a new document timestamp to the version before, stored as a
-- new object. The register row is never changed; downloads serve the newest version.
-- tsa_not_after is when the certificate of the version's timestamping authority expires:
-- the version must be renewed before then.
CREATE TABLE seal_use_archives (
    use_id        uuid NOT NULL REFERENCES seal_uses (id),
    version       integer NOT NULL CHECK (version >= 1),
    digest        text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    size          bigint NOT NULL CHECK (size > 0),
    timestamp_at  timestamptz NOT NULL,
    tsa_name      text NOT NULL,
    tsa_serial    numeric NOT NULL,
    tsa_not_after timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    uuid REFERENCES users (id),
    PRIMARY KEY (use_id, version)
);
CREATE INDEX seal_use_archives_expiry_idx ON seal_use_archives (tsa_not_after);
CREATE TRIGGER seal_use_archives_append_only BEFORE UPDATE OR DELETE ON seal_use_archives
    FOR EACH ROW EXECUTE FUNCTION seal_register_is_append_only();

CREATE OR REPLACE VIEW vault_references (digest) AS
    SELECT content_digest FROM materials
    UNION ALL SELECT thumbnail_digest FROM materials WHERE thumbnail_digest IS NOT NULL
    UNION ALL SELECT digest FROM material_pages
    UNION ALL SELECT digest FROM seal_images
    UNION ALL SELECT digest FROM seal_documents
    UNION ALL SELECT document_digest FROM seal_requests
    UNION ALL SELECT input_digest FROM seal_uses
    UNION ALL SELECT output_digest FROM seal_uses
    UNION ALL SELECT digest FROM case_documents
    UNION ALL SELECT digest FROM seal_data
    UNION ALL SELECT digest FROM seal_use_archives;

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
