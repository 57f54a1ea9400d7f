-- +goose Up
-- The internal CA that issues every seal's certificate: one row. Its key is kept as the
-- custody reference (for software custody: the PKCS#8 key sealed under the key-encryption key).
CREATE TABLE seal_ca (
    id          integer PRIMARY KEY CHECK (id = 1),
    cert_der    bytea NOT NULL,
    key_ref     bytea NOT NULL,
    crl_number  bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Electronic seals (电子印章). status changes only through seal_transitions (one row per
-- change, with its reason); status_since is when the current status began.
CREATE TABLE seals (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    no             bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- shown as S-<no>
    name           text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    type           text NOT NULL CHECK (type IN ('official', 'business', 'contract', 'finance', 'legal_rep')),
    department_id  uuid NOT NULL REFERENCES departments (id),
    supervisor_id  uuid NOT NULL REFERENCES users (id),
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'suspended', 'revoked')),
    status_since   timestamptz NOT NULL DEFAULT now(),
    valid_from     date NOT NULL,
    valid_until    date NOT NULL,
    key_alg        text NOT NULL CHECK (key_alg IN ('ecdsa-p256', 'rsa-3072', 'imported')),
    key_ref        bytea NOT NULL,
    cert_der       bytea NOT NULL,
    chain_der      bytea[] NOT NULL DEFAULT '{}', -- an imported certificate's issuers, nearest first
    cert_serial    text NOT NULL UNIQUE,
    created_by     uuid NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until >= valid_from)
);
CREATE INDEX seals_department_idx ON seals (department_id);

-- Custodians (保管人) of a seal; with the supervisor (监印人) they may approve its use.
CREATE TABLE seal_custodians (
    seal_id  uuid NOT NULL REFERENCES seals (id),
    user_id  uuid NOT NULL REFERENCES users (id),
    PRIMARY KEY (seal_id, user_id)
);

-- Seal images, versioned: a new image is a new version; a use records the version it drew.
CREATE TABLE seal_images (
    seal_id     uuid NOT NULL REFERENCES seals (id),
    version     integer NOT NULL CHECK (version > 0),
    digest      text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    width       integer NOT NULL,
    height      integer NOT NULL,
    created_by  uuid NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (seal_id, version)
);

CREATE TABLE seal_transitions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seal_id      uuid NOT NULL REFERENCES seals (id),
    from_status  text NOT NULL,
    to_status    text NOT NULL,
    reason       text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
    by_user      uuid NOT NULL REFERENCES users (id),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seal_transitions_seal_idx ON seal_transitions (seal_id, at);

-- Authorization letters (授权委托书): a grantor department delegates items, powers and seals
-- to a grantee department for a term. Revocation is recorded on the row, once.
CREATE TABLE authorizations (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    no                     bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- shown as A-<no>
    grantor_department_id  uuid NOT NULL REFERENCES departments (id),
    grantee_department_id  uuid NOT NULL REFERENCES departments (id),
    items                  text[] NOT NULL CHECK (cardinality(items) > 0),
    powers                 text[] NOT NULL CHECK (cardinality(powers) > 0
                           AND powers <@ ARRAY['receive', 'review', 'decide', 'deliver', 'seal']::text[]),
    valid_from             date NOT NULL,
    valid_until            date NOT NULL,
    approval_required      boolean NOT NULL,
    note                   text NOT NULL DEFAULT '',
    created_by             uuid NOT NULL REFERENCES users (id),
    created_at             timestamptz NOT NULL DEFAULT now(),
    revoked_at             timestamptz,
    revoked_by             uuid REFERENCES users (id),
    revoke_reason          text,
    CHECK (valid_until >= valid_from),
    CHECK (grantor_department_id <> grantee_department_id),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL) AND (revoked_at IS NULL) = (revoke_reason IS NULL))
);
CREATE INDEX authorizations_grantee_idx ON authorizations (grantee_department_id);

CREATE TABLE authorization_seals (
    authorization_id  uuid NOT NULL REFERENCES authorizations (id),
    seal_id           uuid NOT NULL REFERENCES seals (id),
    PRIMARY KEY (authorization_id, seal_id)
);

-- Documents uploaded to be sealed: PDFs in the vault, visible to the uploader's department.
CREATE TABLE seal_documents (
    digest         text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    department_id  uuid NOT NULL REFERENCES departments (id),
    name           text NOT NULL,
    size           bigint NOT NULL,
    page_count     integer NOT NULL CHECK (page_count > 0),
    uploaded_by    uuid NOT NULL REFERENCES users (id),
    uploaded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (digest, department_id)
);

-- Seal-use requests (用印申请).
CREATE TABLE seal_requests (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    no                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- shown as R-<no>
    seal_id            uuid NOT NULL REFERENCES seals (id),
    requester_id       uuid NOT NULL REFERENCES users (id),
    department_id      uuid NOT NULL REFERENCES departments (id), -- the requester's, at the time
    authorization_id   uuid REFERENCES authorizations (id),      -- the letter acted under, if any
    case_ref           text NOT NULL CHECK (length(btrim(case_ref)) BETWEEN 1 AND 100),
    item_code          text NOT NULL CHECK (length(btrim(item_code)) BETWEEN 1 AND 100),
    document_digest    text NOT NULL CHECK (document_digest ~ '^[0-9a-f]{64}$'),
    page               integer NOT NULL CHECK (page > 0),
    x                  double precision NOT NULL,
    y                  double precision NOT NULL,
    size               double precision NOT NULL CHECK (size > 0),
    reason             text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
    approval_required  boolean NOT NULL,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'applied')),
    decided_by         uuid REFERENCES users (id),
    decided_at         timestamptz,
    decision_note      text,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seal_requests_seal_idx ON seal_requests (seal_id, created_at);
CREATE INDEX seal_requests_requester_idx ON seal_requests (requester_id, created_at);

-- The seal-use register (用印登记台账): one row per application; a request is applied once.
-- Rows are never changed or removed.
CREATE TABLE seal_uses (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    no              bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- shown as U-<no>
    request_id      uuid NOT NULL UNIQUE REFERENCES seal_requests (id),
    seal_id         uuid NOT NULL REFERENCES seals (id),
    image_version   integer NOT NULL,
    cert_serial     text NOT NULL,
    requester_id    uuid NOT NULL REFERENCES users (id),
    approver_id     uuid REFERENCES users (id),
    department_id   uuid NOT NULL REFERENCES departments (id),
    authorization_id uuid REFERENCES authorizations (id),
    case_ref        text NOT NULL,
    item_code       text NOT NULL,
    input_digest    text NOT NULL CHECK (input_digest ~ '^[0-9a-f]{64}$'),
    output_digest   text NOT NULL CHECK (output_digest ~ '^[0-9a-f]{64}$'),
    output_size     bigint NOT NULL,
    page            integer NOT NULL,
    x               double precision NOT NULL,
    y               double precision NOT NULL,
    size            double precision NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seal_uses_seal_idx ON seal_uses (seal_id, applied_at);
CREATE INDEX seal_uses_output_idx ON seal_uses (output_digest);
CREATE INDEX seal_uses_case_idx ON seal_uses (case_ref);

-- +goose StatementBegin
CREATE FUNCTION seal_register_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER seal_uses_append_only BEFORE UPDATE OR DELETE ON seal_uses
    FOR EACH ROW EXECUTE FUNCTION seal_register_is_append_only();
CREATE TRIGGER seal_transitions_append_only BEFORE UPDATE OR DELETE ON seal_transitions
    FOR EACH ROW EXECUTE FUNCTION seal_register_is_append_only();
CREATE TRIGGER seal_images_append_only BEFORE UPDATE OR DELETE ON seal_images
    FOR EACH ROW EXECUTE FUNCTION seal_register_is_append_only();

-- Every vault object a row names, for gc (never delete these) and scrub (report them missing).
CREATE VIEW vault_references (digest) AS
    SELECT content_digest FROM materials
    UNION ALL SELECT thumbnail_digest FROM materials WHERE thumbnail_digest IS NOT NULL
    UNION ALL SELECT digest FROM material_pages
    UNION ALL SELECT digest FROM seal_images
    UNION ALL SELECT digest FROM seal_documents
    UNION ALL SELECT document_digest FROM seal_requests
    UNION ALL SELECT input_digest FROM seal_uses
    UNION ALL SELECT output_digest FROM seal_uses;
CREATE INDEX seal_images_digest_idx ON seal_images (digest);
CREATE INDEX seal_requests_document_idx ON seal_requests (document_digest);
CREATE INDEX seal_uses_input_idx ON seal_uses (input_digest);

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
