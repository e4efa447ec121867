-- Up Migration
-- Crypto withdrawals: one row per withdrawal id, written when its hold is placed (bad input writes nothing).
CREATE TABLE withdrawals (
  id            uuid PRIMARY KEY,
  workflow_id   text NOT NULL UNIQUE,
  account_id    uuid NOT NULL REFERENCES accounts (id),
  asset         text NOT NULL REFERENCES assets (code),
  address       text NOT NULL,
  amount        numeric(38, 0) NOT NULL CHECK (amount > 0),
  fee           numeric(38, 0) NOT NULL CHECK (fee >= 0),
  status        text NOT NULL CHECK (status IN ('HELD', 'BROADCAST', 'COMPLETED', 'RELEASED')),
  hold_id       uuid NOT NULL UNIQUE REFERENCES holds (id),
  chain_tx_id   text UNIQUE,
  confirmations integer NOT NULL DEFAULT 0,
  reason        text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  broadcast_at  timestamptz,
  completed_at  timestamptz
);
-- The daily limit sums an account's withdrawals of one asset over the last 24 hours.
CREATE INDEX withdrawals_account_asset_created ON withdrawals (account_id, asset, created_at);

-- Destinations an account may withdraw to, each usable only after its cooling-off period.
CREATE TABLE withdrawal_allow_list (
  account_id  uuid NOT NULL REFERENCES accounts (id),
  asset       text NOT NULL REFERENCES assets (code),
  address     text NOT NULL,
  added_at    timestamptz NOT NULL DEFAULT now(),
  usable_from timestamptz NOT NULL,
  removed_at  timestamptz,
  PRIMARY KEY (account_id, asset, address)
);

-- TOTP enrolment per account owner: the secret is AES-256-GCM ciphertext under a key only workers and
-- the CLI hold (TXMGR_TOTP_KEY); it is never stored, logged or sent through Temporal in the clear.
CREATE TABLE totp_enrolments (
  account_id        uuid PRIMARY KEY REFERENCES accounts (id),
  secret_ciphertext text NOT NULL,
  enrolled_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per accepted one-time code (its TOTP time step): a code is accepted once only.
CREATE TABLE totp_used_codes (
  account_id    uuid NOT NULL REFERENCES accounts (id),
  time_step     bigint NOT NULL,
  withdrawal_id uuid NOT NULL,
  used_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, time_step)
);

-- Down Migration
DROP TABLE totp_used_codes;
DROP TABLE totp_enrolments;
DROP TABLE withdrawal_allow_list;
DROP TABLE withdrawals;
