-- Up Migration
-- Marketing campaigns: the record, its running state, the rewards it paid, and tombstones
-- that fence a campaign whose creation was undone (a late create attempt inserts nothing).

CREATE TABLE campaigns (
  id                uuid PRIMARY KEY,
  owner_account_id  uuid NOT NULL REFERENCES accounts (id),
  name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  type              text NOT NULL CHECK (type IN ('referral', 'cashback', 'airdrop', 'promotion')),
  -- draft (recorded) → pending (state initialised) → scheduled (budget reserved) → active → completed, or cancelled.
  status            text NOT NULL CHECK (status IN ('draft', 'pending', 'scheduled', 'active', 'completed', 'cancelled')),
  asset             text NOT NULL REFERENCES assets (code),
  budget            numeric(38, 0) NOT NULL CHECK (budget > 0),
  reward_per_user   numeric(38, 0) NOT NULL CHECK (reward_per_user > 0),
  max_per_user      numeric(38, 0) NOT NULL CHECK (max_per_user > 0),
  starts_at         timestamptz NOT NULL,
  ends_at           timestamptz NOT NULL,
  workflow_id       text NOT NULL UNIQUE,
  hold_id           uuid REFERENCES holds (id),
  reason            text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at),
  CHECK (reward_per_user <= max_per_user AND max_per_user <= budget)
);
-- A name is unique per owner, whatever its letter case.
CREATE UNIQUE INDEX campaigns_owner_name_idx ON campaigns (owner_account_id, lower(name));

CREATE TABLE campaign_state (
  campaign_id    uuid PRIMARY KEY REFERENCES campaigns (id),
  phase          text NOT NULL CHECK (phase IN ('initialised', 'reserved', 'active', 'closed')),
  rewards_paid   integer NOT NULL DEFAULT 0 CHECK (rewards_paid >= 0),
  batches        integer NOT NULL DEFAULT 0 CHECK (batches >= 0),
  spent          numeric(38, 0) NOT NULL DEFAULT 0 CHECK (spent >= 0),
  released       numeric(38, 0) NOT NULL DEFAULT 0 CHECK (released >= 0),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- One reward per campaign and recipient: a retried batch pays nobody twice.
CREATE TABLE campaign_rewards (
  campaign_id           uuid NOT NULL REFERENCES campaigns (id),
  recipient_account_id  uuid NOT NULL REFERENCES accounts (id),
  amount                numeric(38, 0) NOT NULL CHECK (amount > 0),
  transfer_id           uuid NOT NULL UNIQUE REFERENCES transfers (id),
  batch_id              text NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (campaign_id, recipient_account_id)
);

CREATE TABLE campaign_tombstones (
  campaign_id  uuid PRIMARY KEY,
  workflow_id  text NOT NULL,
  reason       text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE campaign_tombstones;
DROP TABLE campaign_rewards;
DROP TABLE campaign_state;
DROP TABLE campaigns;
