-- +goose Up
-- The case (办件) as the spine of both regimes: its life cycle, its notices, its result
-- documents, and the seal requests and uses made for it.

-- Service items say whether the front desk decides them at once (instant, 即办) or forwards
-- them to the owning department (promised, 承诺), and their promised time limit in working
-- days (承诺时限). Items recorded before this column are promised items of 20 working days.
ALTER TABLE service_items
    ADD COLUMN kind text NOT NULL DEFAULT 'promised' CHECK (kind IN ('instant', 'promised')),
    ADD COLUMN time_limit_days integer NOT NULL DEFAULT 20 CHECK (time_limit_days BETWEEN 0 AND 365);

-- The case's state and what each step fixed. Every change is a row of case_transitions.
ALTER TABLE cases
    ADD COLUMN state            text NOT NULL DEFAULT 'received' CHECK (state IN ('received', 'incomplete', 'accepted',
                                'forwarded', 'decided', 'sealed', 'delivered', 'closed', 'refused', 'withdrawn')),
    ADD COLUMN state_since      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN owner_department_id uuid REFERENCES departments (id), -- the item's, when the case was opened
    ADD COLUMN accepted_at      timestamptz,
    ADD COLUMN accepted_by      uuid REFERENCES users (id),
    ADD COLUMN due_on           date,
    ADD COLUMN due_provisional  boolean NOT NULL DEFAULT false, -- counted past the holiday calendar's years
    ADD COLUMN forwarded_at     timestamptz,
    ADD COLUMN decision         text CHECK (decision IN ('approved', 'denied')),
    ADD COLUMN decision_text    text,
    ADD COLUMN decided_by       uuid REFERENCES users (id),
    ADD COLUMN decided_at       timestamptz,
    ADD COLUMN delivery_method  text CHECK (delivery_method IN ('counter', 'post', 'electronic')),
    ADD COLUMN delivery_tracking text,
    ADD COLUMN delivered_at     timestamptz,
    ADD COLUMN closed_at        timestamptz;
CREATE INDEX cases_state_idx ON cases (department_id, state, due_on);
CREATE INDEX cases_owner_state_idx ON cases (owner_department_id, state, due_on);

-- Every transition of a case, with the person and the reason or decision text.
CREATE TABLE case_transitions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (id),
    from_state  text NOT NULL,
    to_state    text NOT NULL,
    note        text NOT NULL DEFAULT '',
    by_user     uuid NOT NULL REFERENCES users (id),
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_transitions_case_idx ON case_transitions (case_id, id);

-- One-time notices (一次性告知书), numbered per case and kept. A notice after the first may
-- list only what the first listed, or a material found invalid since, unless a supervisor
-- overrode that with a written reason.
CREATE TABLE case_notices (
    case_id          uuid NOT NULL REFERENCES cases (id),
    no               integer NOT NULL CHECK (no > 0),
    types            text[] NOT NULL, -- the material types it lists
    body             jsonb NOT NULL,  -- the notice as issued (center, item, applicant masked, materials, staff, date)
    issued_by        uuid NOT NULL REFERENCES users (id),
    issued_at        timestamptz NOT NULL DEFAULT now(),
    override_reason  text,
    override_by      uuid REFERENCES users (id),
    PRIMARY KEY (case_id, no),
    CHECK ((override_reason IS NULL) = (override_by IS NULL))
);

-- Materials the applicant supplied that staff found invalid, taken off the case with the
-- reason: they may be asked for again.
CREATE TABLE case_material_rejections (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES cases (id),
    type_code    text NOT NULL REFERENCES material_types (code),
    material_id  uuid NOT NULL REFERENCES materials (id),
    reason       text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
    by_user      uuid NOT NULL REFERENCES users (id),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_material_rejections_case_idx ON case_material_rejections (case_id);

-- The documents a case may seal: its result (licence, certificate) or its decision letter,
-- named by the decider, and each sealed output.
CREATE TABLE case_documents (
    case_id     uuid NOT NULL REFERENCES cases (id),
    digest      text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    kind        text NOT NULL CHECK (kind IN ('result', 'decision_letter', 'sealed')),
    name        text NOT NULL,
    added_by    uuid NOT NULL REFERENCES users (id),
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, digest)
);

-- Seal requests and uses name their case by id from now on; rows made before keep their
-- free-text case_ref and have no case_id.
ALTER TABLE seal_requests ADD COLUMN case_id uuid REFERENCES cases (id);
ALTER TABLE seal_uses ADD COLUMN case_id uuid REFERENCES cases (id);
CREATE INDEX seal_requests_case_idx ON seal_requests (case_id);
CREATE INDEX seal_uses_case_id_idx ON seal_uses (case_id);

CREATE TRIGGER case_transitions_append_only BEFORE UPDATE OR DELETE ON case_transitions
    FOR EACH ROW EXECUTE FUNCTION seal_register_is_append_only();
CREATE TRIGGER case_notices_append_only BEFORE UPDATE OR DELETE ON case_notices
    FOR EACH ROW EXECUTE FUNCTION seal_register_is_append_only();
CREATE TRIGGER case_material_rejections_append_only BEFORE UPDATE OR DELETE ON case_material_rejections
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
    UNION ALL SELECT digest FROM case_documents;

-- The center's supervisor (中心负责人) may override the one-time-notice rule with a written reason.
ALTER TABLE users DROP CONSTRAINT users_roles_check;
ALTER TABLE users ADD CONSTRAINT users_roles_check
    CHECK (roles <@ ARRAY['admin', 'window', 'sealer', 'custodian', 'seal_admin', 'auditor', 'supervisor']::text[]);

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
