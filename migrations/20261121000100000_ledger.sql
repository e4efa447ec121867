-- Up Migration
-- Double-entry ledger: assets, accounts with four balance columns, transfers and two-phase holds.

CREATE TABLE assets (
  code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9]{1,11}$'),
  scale       smallint NOT NULL CHECK (scale BETWEEN 0 AND 36),
  description text NOT NULL DEFAULT ''
);

INSERT INTO assets (code, scale, description) VALUES
  ('USD', 2, 'US dollar'),
  ('EUR', 2, 'Euro'),
  ('BTC', 8, 'Bitcoin'),
  ('ETH', 18, 'Ether');

CREATE TABLE accounts (
  id          uuid PRIMARY KEY,
  asset       text NOT NULL REFERENCES assets (code),
  kind        text NOT NULL CHECK (kind IN ('user', 'house')),
  owner       text NOT NULL,
  -- House accounts have a well-known code (e.g. 'external_bank'); users have none.
  code        text,
  debits_pending  numeric(38, 0) NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
  debits_posted   numeric(38, 0) NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
  credits_pending numeric(38, 0) NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
  credits_posted  numeric(38, 0) NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
  debits_must_not_exceed_credits boolean NOT NULL DEFAULT false,
  credits_must_not_exceed_debits boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (asset, code),
  CHECK (NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)),
  -- The last line of defence: a user account can never be overdrawn, holds included.
  CONSTRAINT accounts_debits_within_credits
    CHECK (NOT debits_must_not_exceed_credits OR debits_pending + debits_posted <= credits_posted),
  CONSTRAINT accounts_credits_within_debits
    CHECK (NOT credits_must_not_exceed_debits OR credits_pending + credits_posted <= debits_posted)
);
CREATE INDEX accounts_owner_idx ON accounts (owner);

-- House accounts: one of each per asset, so every flow balances.
INSERT INTO accounts (id, asset, kind, owner, code)
SELECT md5('house:' || a.code || ':' || h.code)::uuid, a.code, 'house', 'house', h.code
FROM assets a
CROSS JOIN (VALUES ('external_bank'), ('external_chain'), ('escrow'), ('fees'), ('campaign_budget'), ('treasury')) AS h (code);

CREATE TABLE holds (
  id                 uuid PRIMARY KEY,
  debit_account_id   uuid NOT NULL REFERENCES accounts (id),
  credit_account_id  uuid NOT NULL REFERENCES accounts (id),
  asset              text NOT NULL REFERENCES assets (code),
  amount             numeric(38, 0) NOT NULL CHECK (amount > 0),
  captured           numeric(38, 0) NOT NULL DEFAULT 0 CHECK (captured >= 0),
  released           numeric(38, 0) NOT NULL DEFAULT 0 CHECK (released >= 0),
  status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'captured', 'released')),
  workflow_id        text,
  step               text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  closed_at          timestamptz,
  CHECK (debit_account_id <> credit_account_id),
  CHECK (captured + released <= amount),
  CHECK ((status = 'open') = (captured + released < amount))
);
CREATE INDEX holds_open_idx ON holds (debit_account_id) WHERE status = 'open';
CREATE INDEX holds_workflow_idx ON holds (workflow_id);

CREATE TABLE transfers (
  id                 uuid PRIMARY KEY,
  debit_account_id   uuid NOT NULL REFERENCES accounts (id),
  credit_account_id  uuid NOT NULL REFERENCES accounts (id),
  asset              text NOT NULL REFERENCES assets (code),
  amount             numeric(38, 0) NOT NULL CHECK (amount > 0),
  -- Set when the transfer posts part of a hold (a capture).
  hold_id            uuid REFERENCES holds (id),
  workflow_id        text,
  step               text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (debit_account_id <> credit_account_id)
);
CREATE INDEX transfers_debit_idx ON transfers (debit_account_id);
CREATE INDEX transfers_credit_idx ON transfers (credit_account_id);
CREATE INDEX transfers_hold_idx ON transfers (hold_id) WHERE hold_id IS NOT NULL;

-- Down Migration
DROP TABLE transfers;
DROP TABLE holds;
DROP TABLE accounts;
DROP TABLE assets;
