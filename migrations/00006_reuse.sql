-- +goose Up
-- The colour mode of each page image (gray, bilevel, rgb, cmyk, paletted), for the catalog's
-- colour requirements; NULL for pages recorded before this column existed.
ALTER TABLE material_pages ADD COLUMN color text;

-- Reuse plans look up a holder's newest materials of each type (docs/BENCHMARKS.md, reuse).
CREATE INDEX materials_holder_type_idx ON materials (holder_lookup, type_code, captured_at DESC);

-- The material catalog (材料目录): what each type of material is, how it must be captured and
-- kept, how long it stays valid, and whether it may be shared.
CREATE TABLE material_types (
    code              text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name              text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    category          text NOT NULL DEFAULT '',
    holder_kind       text NOT NULL CHECK (holder_kind IN ('person', 'organisation')),
    -- Acquisition and storage requirements.
    formats           text[] NOT NULL DEFAULT '{jpeg,png,tiff,pdf}' CHECK (formats <@ ARRAY['jpeg', 'png', 'tiff', 'pdf']::text[]),
    min_dpi           integer CHECK (min_dpi > 0),
    min_pixels        integer CHECK (min_pixels > 0), -- on the shorter side of a page image
    colour            text NOT NULL DEFAULT 'any' CHECK (colour IN ('any', 'colour', 'gray')),
    max_bytes         bigint CHECK (max_bytes > 0),
    max_pages         integer CHECK (max_pages > 0),
    original_required boolean NOT NULL DEFAULT false,
    -- Validity: until the expiry stated on the material, a fixed period from its issue, or long-term.
    validity          text NOT NULL CHECK (validity IN ('until_expiry', 'fixed_period', 'long_term')),
    validity_months   integer CHECK (validity_months > 0),
    sensitivity       text NOT NULL DEFAULT 'normal' CHECK (sensitivity IN ('normal', 'sensitive', 'secret')),
    shareable         boolean NOT NULL DEFAULT true,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((validity = 'fixed_period') = (validity_months IS NOT NULL))
);

-- Service items (事项) and the materials each requires.
CREATE TABLE service_items (
    code           text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name           text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    department_id  uuid NOT NULL REFERENCES departments (id),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE item_materials (
    item_code       text NOT NULL REFERENCES service_items (code),
    type_code       text NOT NULL REFERENCES material_types (code),
    position        integer NOT NULL,
    required        boolean NOT NULL,
    reuse_accepted  boolean NOT NULL,
    PRIMARY KEY (item_code, type_code)
);

-- Reuse rules (可复用规则): a material of a type may serve a case elsewhere, within a scope, by
-- a method, under conditions. Optionally narrowed to one item or one (using) department.
CREATE TABLE reuse_rules (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    no                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- shown as RR-<no>
    type_code          text NOT NULL REFERENCES material_types (code),
    item_code          text REFERENCES service_items (code),
    department_id      uuid REFERENCES departments (id),
    max_age_days       integer CHECK (max_age_days > 0),
    within_validity    boolean NOT NULL DEFAULT true,
    original_required  boolean NOT NULL DEFAULT false,
    consent_required   boolean NOT NULL DEFAULT false,
    scope              text NOT NULL CHECK (scope IN ('department', 'center', 'level', 'cross_level')),
    method             text NOT NULL CHECK (method IN ('reference', 'view', 'download')),
    created_by         uuid NOT NULL REFERENCES users (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    retired_at         timestamptz
);
CREATE INDEX reuse_rules_type_idx ON reuse_rules (type_code) WHERE retired_at IS NULL;

-- Cases (办件). The holder is stored as materials store it.
CREATE TABLE cases (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    no             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    case_no        text NOT NULL UNIQUE,
    item_code      text NOT NULL REFERENCES service_items (code),
    department_id  uuid NOT NULL REFERENCES departments (id),
    holder_kind    text NOT NULL,
    holder_lookup  text NOT NULL CHECK (holder_lookup ~ '^[0-9a-f]{64}$'),
    holder_sealed  bytea NOT NULL,
    holder_masked  text NOT NULL,
    consent_at     timestamptz, -- the applicant's consent to reuse, when recorded
    consent_by     uuid REFERENCES users (id),
    created_by     uuid NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_holder_idx ON cases (holder_lookup);
CREATE INDEX cases_item_idx ON cases (item_code, created_at);

-- Materials attached to a case: reused (by a rule) or newly submitted.
CREATE TABLE case_materials (
    case_id      uuid NOT NULL REFERENCES cases (id),
    type_code    text NOT NULL REFERENCES material_types (code),
    material_id  uuid NOT NULL REFERENCES materials (id),
    how          text NOT NULL CHECK (how IN ('reused', 'submitted')),
    rule_id      uuid REFERENCES reuse_rules (id),
    added_by     uuid NOT NULL REFERENCES users (id),
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, type_code),
    CHECK ((how = 'reused') = (rule_id IS NOT NULL))
);
CREATE INDEX case_materials_material_idx ON case_materials (material_id);

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
