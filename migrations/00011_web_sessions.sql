-- +goose Up
-- Sessions of the workbench (the web interface). The cookie holds a random secret; only its
-- SHA-256 is stored. A session ends at log-out, after idle_timeout without a request, and
-- when the user's tokens are revoked (a session created before users.tokens_valid_after is
-- refused). csrf is the token every form of the session carries.
CREATE TABLE web_sessions (
	secret_hash  bytea PRIMARY KEY,
	user_id      uuid NOT NULL REFERENCES users (id),
	csrf         text NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- +goose Down
-- Forward only: sealvault never rolls a migration back.
SELECT 1;
