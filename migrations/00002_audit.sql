-- +goose Up
-- The audit trail. An event's exact canonical bytes (body, JSON) are what the Merkle tree
-- commits to. The query columns beside it are written by audit.Append from the same event
-- (parsing the body in the database on every append would cost more than the rest of it);
-- the online verifier checks every row's columns against its body, so a column edited to hide
-- an event from a query is reported like an edited body.
-- Events are appended inside the acting transaction (audit_events + audit_pending); an
-- integrator, one at a time across processes (advisory lock), gives each committed event
-- the next gapless sequence number (audit_log) and stores the RFC 6962 tree's hashes
-- (audit_hashes, indexed as golang.org/x/mod/sumdb/tlog stores them). Signed checkpoints are
-- kept in audit_checkpoints and outside the database.
CREATE TABLE audit_events (
    id            bigserial PRIMARY KEY,
    body          text NOT NULL,
    at            text,
    action        text,
    actor_id      text,
    department_id text,
    seal_id       text,
    case_id       text,
    material_id   text
);
-- Times are RFC 3339 UTC strings of fixed width, so text order is time order.
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_department_idx ON audit_events (department_id, id) WHERE department_id IS NOT NULL;
CREATE INDEX audit_events_seal_idx ON audit_events (seal_id, id) WHERE seal_id IS NOT NULL;
CREATE INDEX audit_events_case_idx ON audit_events (case_id, id) WHERE case_id IS NOT NULL;
CREATE INDEX audit_events_material_idx ON audit_events (material_id, id) WHERE material_id IS NOT NULL;

-- Committed events not yet sequenced. A queue: the integrator deletes what it sequenced.
-- No foreign key: both rows come from one statement (audit.Append), and the check would
-- cost every append.
CREATE TABLE audit_pending (
    event_id bigint PRIMARY KEY
);

-- The sequence: seq is gapless from 0 and is the event's leaf index in the tree.
CREATE TABLE audit_log (
    seq      bigint PRIMARY KEY CHECK (seq >= 0),
    event_id bigint NOT NULL UNIQUE REFERENCES audit_events (id),
    leaf     bytea NOT NULL CHECK (length(leaf) = 32)  -- RFC 6962 leaf hash of the event body
);

-- Stored hashes of the tree (tlog.StoredHashIndex numbering); level-0 entries are the leaf
-- hashes.
CREATE TABLE audit_hashes (
    idx  bigint PRIMARY KEY CHECK (idx >= 0),
    hash bytea NOT NULL CHECK (length(hash) = 32)
);

-- Signed checkpoints (signed-note format) of tree sizes.
CREATE TABLE audit_checkpoints (
    size       bigint PRIMARY KEY CHECK (size > 0),
    root_hash  bytea NOT NULL CHECK (length(root_hash) = 32),
    note       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only: the audit tables refuse UPDATE, DELETE and TRUNCATE for every role, the
-- owner included. (A superuser can still disable the triggers; that is what the Merkle tree
-- and the checkpoints kept outside the database are for.)
-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_hashes_append_only BEFORE UPDATE OR DELETE ON audit_hashes
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_hashes_no_truncate BEFORE TRUNCATE ON audit_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Least privilege for production: run the service as a role that owns nothing and may only
-- read and append to the audit tables (the migration role owns the schema). For example:
--   CREATE ROLE sealvault_app LOGIN PASSWORD '…';
--   GRANT SELECT, INSERT, UPDATE ON departments, users TO sealvault_app;
--   GRANT SELECT, INSERT ON audit_events, audit_log, audit_hashes, audit_checkpoints TO sealvault_app;
--   GRANT SELECT, INSERT, DELETE ON audit_pending TO sealvault_app;
--   GRANT USAGE ON SEQUENCE audit_events_id_seq TO sealvault_app;
-- With that role even a bug cannot issue UPDATE or DELETE on the trail; the triggers above
-- stop the owner too.

-- +goose Down
SELECT 1;
