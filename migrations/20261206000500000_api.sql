-- Up Migration
-- The HTTP API: keys (only a hash of the secret is kept), idempotency records of POST
-- requests, and an audit row per state-changing request.

CREATE TABLE api_keys (
  id           uuid PRIMARY KEY,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- sha256 of the whole key as handed out; the key itself is never stored.
  key_hash     bytea NOT NULL CHECK (length(key_hash) = 32),
  scopes       text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'execute', 'operate', 'admin'] AND cardinality(scopes) > 0),
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);

CREATE TABLE api_idempotency (
  api_key_id       uuid NOT NULL REFERENCES api_keys (id),
  idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  -- What the key was first used for: method, route, query and a hash of the body.
  request_method   text NOT NULL,
  request_path     text NOT NULL,
  request_hash     bytea NOT NULL,
  -- NULL while the first request is still being answered.
  status_code      integer,
  response_body    text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  PRIMARY KEY (api_key_id, idempotency_key)
);
CREATE INDEX api_idempotency_created_idx ON api_idempotency (created_at);

CREATE TABLE api_audit (
  id           bigserial PRIMARY KEY,
  api_key_id   uuid REFERENCES api_keys (id),
  method       text NOT NULL,
  route        text NOT NULL,
  -- What the request acted on (a workflow id, a bank reference), never a secret.
  target       text,
  status_code  integer NOT NULL,
  outcome      text NOT NULL,
  request_id   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_audit_created_idx ON api_audit (created_at);
CREATE INDEX api_audit_key_idx ON api_audit (api_key_id);

-- Down Migration
DROP TABLE api_audit;
DROP TABLE api_idempotency;
DROP TABLE api_keys;
