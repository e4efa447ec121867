-- Up Migration
-- Versioned configuration applied by the config siphon, and its transaction log.
-- compliance_settings and compliance_deny_list (deposits migration) are the compliance
-- config; the siphon writes them, so the deposit saga sees what it applied.

-- One row: the current config version and the last sequence handed out. Locking it
-- serialises every config transaction, which is what keeps sequences gapless.
CREATE TABLE config_state (
  singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version        bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
  last_sequence  bigint NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO config_state DEFAULT VALUES;

CREATE TABLE config_transactions (
  -- Client-generated idempotency key: the same id is applied at most once.
  id              text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
  sequence        bigint NOT NULL UNIQUE CHECK (sequence > 0),
  kind            text NOT NULL,
  payload         jsonb NOT NULL,
  status          text NOT NULL CHECK (status IN ('pending', 'applied', 'failed')),
  error           text,
  source          text NOT NULL DEFAULT 'unknown',
  -- The config version this transaction produced (applied ones only).
  config_version  bigint,
  workflow_id     text,
  run_id          text,
  -- The siphon's queue ticket that recorded it: a retry of the same apply carries the
  -- same ticket, a second submission of the same id does not (it is a duplicate).
  ticket          text,
  submitted_at    timestamptz NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  applied_at      timestamptz,
  CHECK ((status = 'applied') = (config_version IS NOT NULL)),
  CHECK ((status = 'failed') = (error IS NOT NULL)),
  CHECK ((status = 'pending') = (applied_at IS NULL))
);

-- What each applied transaction changed, one row per version.
CREATE TABLE config_changes (
  version         bigint PRIMARY KEY CHECK (version > 0),
  transaction_id  text NOT NULL UNIQUE REFERENCES config_transactions (id),
  kind            text NOT NULL,
  summary         text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE markets (
  symbol           text PRIMARY KEY CHECK (symbol ~ '^[A-Z][A-Z0-9]{1,11}-[A-Z][A-Z0-9]{1,11}$'),
  base_asset       text NOT NULL REFERENCES assets (code),
  quote_asset      text NOT NULL REFERENCES assets (code),
  -- Price increment in quote minor units; quantity increment in base minor units.
  tick_size        numeric(38, 0) NOT NULL CHECK (tick_size > 0),
  lot_size         numeric(38, 0) NOT NULL CHECK (lot_size > 0),
  min_quantity     numeric(38, 0) NOT NULL CHECK (min_quantity > 0),
  max_quantity     numeric(38, 0) NOT NULL,
  -- Orders priced further than this from the reference price are refused.
  price_band_bps   integer NOT NULL CHECK (price_band_bps BETWEEN 1 AND 10000),
  maker_fee_bps    integer NOT NULL CHECK (maker_fee_bps BETWEEN -100 AND 1000),
  taker_fee_bps    integer NOT NULL CHECK (taker_fee_bps BETWEEN 0 AND 1000),
  status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'halted')),
  halt_reason      text,
  config_version   bigint NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (base_asset <> quote_asset),
  CHECK (max_quantity >= min_quantity)
);

CREATE TABLE withdrawal_rules (
  asset                   text PRIMARY KEY REFERENCES assets (code),
  minimum                 numeric(38, 0) NOT NULL CHECK (minimum > 0),
  per_transaction_limit   numeric(38, 0) NOT NULL,
  daily_limit             numeric(38, 0) NOT NULL,
  network_fee             numeric(38, 0) NOT NULL CHECK (network_fee >= 0),
  confirmations_required  integer NOT NULL CHECK (confirmations_required BETWEEN 0 AND 1000),
  -- A regular expression a destination address must match.
  address_format          text NOT NULL,
  config_version          bigint NOT NULL,
  updated_at              timestamptz NOT NULL DEFAULT now(),
  CHECK (per_transaction_limit >= minimum),
  CHECK (daily_limit >= per_transaction_limit)
);

CREATE TABLE campaign_defaults (
  singleton              boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  budget_asset           text NOT NULL REFERENCES assets (code),
  max_budget             numeric(38, 0) NOT NULL CHECK (max_budget > 0),
  default_duration_days  integer NOT NULL CHECK (default_duration_days BETWEEN 1 AND 3650),
  max_reward_per_user    numeric(38, 0) NOT NULL CHECK (max_reward_per_user > 0),
  activation_delay_seconds integer NOT NULL DEFAULT 0 CHECK (activation_delay_seconds >= 0),
  config_version         bigint NOT NULL,
  updated_at             timestamptz NOT NULL DEFAULT now(),
  CHECK (max_reward_per_user <= max_budget)
);

-- Which config version last touched a compliance row (the tables predate the siphon).
ALTER TABLE compliance_settings ADD COLUMN config_version bigint;
ALTER TABLE compliance_deny_list ADD COLUMN config_version bigint;

-- Down Migration
ALTER TABLE compliance_deny_list DROP COLUMN config_version;
ALTER TABLE compliance_settings DROP COLUMN config_version;
DROP TABLE campaign_defaults;
DROP TABLE withdrawal_rules;
DROP TABLE markets;
DROP TABLE config_changes;
DROP TABLE config_transactions;
DROP TABLE config_state;
