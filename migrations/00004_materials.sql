-- +goose Up
-- Electronic materials (电子材料). A material record is never edited: a correction is a new
-- version whose supersedes names the old one, and a revocation is a row of its own. A
-- material's status is derived: revoked if a revocation exists, superseded if a newer
-- version exists, active otherwise.
CREATE TABLE materials (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The holder's number is personal information: only a keyed hash (lookup), an
    -- AES-256-GCM ciphertext (authorised display) and a masked form are stored.
    holder_kind       text NOT NULL CHECK (holder_kind IN ('id_card', 'credit_code', 'passport', 'other')),
    holder_lookup     text NOT NULL CHECK (holder_lookup ~ '^[0-9a-f]{64}$'),
    holder_sealed     bytea NOT NULL,
    holder_masked     text NOT NULL,
    type_code         text NOT NULL CHECK (type_code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    title             text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    page_count        integer NOT NULL CHECK (page_count > 0),
    source            text NOT NULL CHECK (source IN ('scan', 'upload', 'e-licence')),
    issuing_authority text,
    issued_on         date,
    valid_until       date,
    long_term         boolean NOT NULL DEFAULT false,
    captured_by       uuid NOT NULL REFERENCES users (id),
    captured_at       timestamptz NOT NULL DEFAULT now(),
    department_id     uuid NOT NULL REFERENCES departments (id),
    original_verified boolean NOT NULL,
    supersedes        uuid UNIQUE REFERENCES materials (id),
    content_digest    text NOT NULL CHECK (content_digest ~ '^[0-9a-f]{64}$'),
    content_type      text NOT NULL,
    content_size      bigint NOT NULL CHECK (content_size > 0),
    thumbnail_digest  text CHECK (thumbnail_digest ~ '^[0-9a-f]{64}$'),
    idempotency_key   text,
    CHECK (NOT (long_term AND valid_until IS NOT NULL)),
    CHECK (valid_until IS NULL OR issued_on IS NULL OR valid_until >= issued_on),
    UNIQUE (captured_by, idempotency_key)
);
CREATE INDEX materials_holder_idx ON materials (holder_lookup, captured_at DESC);
CREATE INDEX materials_department_idx ON materials (department_id, captured_at DESC);
CREATE INDEX materials_type_idx ON materials (type_code, captured_at DESC);
CREATE INDEX materials_content_idx ON materials (content_digest);
CREATE INDEX materials_thumbnail_idx ON materials (thumbnail_digest) WHERE thumbnail_digest IS NOT NULL;

-- The original page files of a scanned material, in page order.
CREATE TABLE material_pages (
    material_id uuid NOT NULL REFERENCES materials (id),
    page_no     integer NOT NULL CHECK (page_no > 0),
    digest      text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    format      text NOT NULL,
    width       integer NOT NULL,
    height      integer NOT NULL,
    dpi         double precision NOT NULL DEFAULT 0,
    size        bigint NOT NULL,
    PRIMARY KEY (material_id, page_no)
);
CREATE INDEX material_pages_digest_idx ON material_pages (digest);

CREATE TABLE material_revocations (
    material_id uuid PRIMARY KEY REFERENCES materials (id),
    revoked_by  uuid NOT NULL REFERENCES users (id),
    revoked_at  timestamptz NOT NULL DEFAULT now(),
    reason      text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500)
);

-- Never edited, never removed.
-- +goose StatementBegin
CREATE FUNCTION materials_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'material records are never edited or removed (% on %): record a new version instead', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER materials_immutable BEFORE UPDATE OR DELETE ON materials
    FOR EACH ROW EXECUTE FUNCTION materials_immutable();
CREATE TRIGGER material_pages_immutable BEFORE UPDATE OR DELETE ON material_pages
    FOR EACH ROW EXECUTE FUNCTION materials_immutable();
CREATE TRIGGER material_revocations_immutable BEFORE UPDATE OR DELETE ON material_revocations
    FOR EACH ROW EXECUTE FUNCTION materials_immutable();

-- +goose Down
SELECT 1;
