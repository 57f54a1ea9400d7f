-- +goose Up
-- The seal maker (制章人) of GB/T 38540 seal data, an SM2 root beside the existing root, is
-- row 2 of seal_ca; the timestamping authority's key and certificate (issued by row 1 for
-- timeStamping) row 3. Row 1 stays the root that issues seal certificates.
ALTER TABLE seal_ca DROP CONSTRAINT seal_ca_id_check;
ALTER TABLE seal_ca ADD CONSTRAINT seal_ca_id_check CHECK (id IN (1, 2, 3));

-- Serial numbers of timestamp tokens (RFC 3161 TSTInfo.serialNumber): one sequence, so they
-- are unique and increasing across every serve process on the database.
CREATE SEQUENCE tsa_serials AS bigint START 1 NO CYCLE;

-- Electronic seal data (电子印章数据, SES_Seal of GB/T 38540) of each image version of a seal:
-- the seal's name, certificate, validity and that image, signed by the seal maker. Made
-- when an image is added; a use verifies the data of the version it draws.
CREATE TABLE seal_data (
    seal_id        uuid NOT NULL,
    image_version  integer NOT NULL,
    digest         text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (seal_id, image_version),
    FOREIGN KEY (seal_id, image_version) REFERENCES seal_images (seal_id, version)
);
CREATE TRIGGER seal_data_append_only BEFORE UPDATE OR DELETE ON seal_data
    FOR EACH ROW EXECUTE FUNCTION seal_register_is_append_only();
CREATE INDEX seal_data_digest_idx ON seal_data (digest);

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
    UNION ALL SELECT digest FROM seal_data;

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
