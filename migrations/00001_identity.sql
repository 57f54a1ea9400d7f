-- +goose Up
-- Departments form a tree: a service center (kind 'center') at the top of its subtree,
-- departments below it. level is the government level the unit belongs to; the reuse regime's
-- sharing scopes ('center', 'level', 'cross_level') are computed from kind, level and parent.
CREATE TABLE departments (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('center', 'department')),
    level       text NOT NULL CHECK (level IN ('national', 'province', 'city', 'district', 'county', 'township')),
    parent_id   uuid REFERENCES departments (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX departments_parent_idx ON departments (parent_id);

-- Users belong to exactly one department and hold roles. Usernames are stored lower-case.
-- password_hash is an argon2id PHC string; it is never returned by the API.
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name  text NOT NULL CHECK (length(btrim(display_name)) BETWEEN 1 AND 100),
    department_id uuid NOT NULL REFERENCES departments (id),
    roles         text[] NOT NULL DEFAULT '{}'
                  CHECK (roles <@ ARRAY['admin', 'window', 'sealer', 'custodian', 'seal_admin', 'auditor']::text[]),
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_department_idx ON users (department_id);

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
