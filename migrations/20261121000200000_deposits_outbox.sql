-- Up Migration
-- Fiat deposits, the compliance settings they are screened against, and the outbox.

CREATE TABLE compliance_settings (
  asset                   text PRIMARY KEY REFERENCES assets (code),
  -- Deposits above this many minor units wait for an operator's decision.
  review_threshold        numeric(38, 0) NOT NULL CHECK (review_threshold >= 0),
  review_timeout_seconds  integer NOT NULL DEFAULT 86400 CHECK (review_timeout_seconds > 0)
);
INSERT INTO compliance_settings (asset, review_threshold) VALUES
  ('USD', 1000000), ('EUR', 1000000), ('BTC', 100000000), ('ETH', 10000000000000000000);

CREATE TABLE compliance_deny_list (
  -- Stored normalised: lower case, single spaces.
  name       text PRIMARY KEY,
  reason     text NOT NULL DEFAULT 'sanctions list',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deposits (
  id              uuid PRIMARY KEY,
  bank_reference  text NOT NULL UNIQUE,
  account_id      uuid NOT NULL REFERENCES accounts (id),
  asset           text NOT NULL REFERENCES assets (code),
  amount          numeric(38, 0) NOT NULL CHECK (amount > 0),
  sender_name     text NOT NULL,
  status          text NOT NULL CHECK (status IN ('RECORDED', 'IN_REVIEW', 'APPROVED', 'REJECTED', 'CREDITED')),
  reason          text,
  workflow_id     text NOT NULL,
  transfer_id     uuid REFERENCES transfers (id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'CREDITED') = (transfer_id IS NOT NULL))
);
CREATE INDEX deposits_account_idx ON deposits (account_id);

-- Events for other systems, written in the same transaction as the change they describe.
CREATE TABLE outbox (
  id           bigserial PRIMARY KEY,
  event_id     uuid NOT NULL UNIQUE,
  topic        text NOT NULL,
  aggregate_id text NOT NULL,
  payload      jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

-- Down Migration
DROP TABLE outbox;
DROP TABLE deposits;
DROP TABLE compliance_deny_list;
DROP TABLE compliance_settings;
