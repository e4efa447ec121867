-- Up Migration
-- Each reward batch a campaign paid, by its id: the content it paid (recipient → amount) and
-- its outcome. The same id again returns that outcome; with other content it is refused.

CREATE TABLE campaign_reward_batches (
  campaign_id   uuid NOT NULL REFERENCES campaigns (id),
  batch_id      text NOT NULL,
  -- { "<recipient account id>": "<minor units>", … }: every reward the batch asked for.
  rewards       jsonb NOT NULL,
  paid          integer NOT NULL CHECK (paid >= 0),
  already_paid  integer NOT NULL CHECK (already_paid >= 0),
  amount        numeric(38, 0) NOT NULL CHECK (amount >= 0),
  spent         numeric(38, 0) NOT NULL CHECK (spent >= 0),
  remaining     numeric(38, 0) NOT NULL CHECK (remaining >= 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (campaign_id, batch_id)
);

-- The campaign saga's inverses delete an undone campaign's record and state (fenced by a
-- tombstone): the application role needs that, and only that, besides the grants it has.
GRANT DELETE ON campaigns, campaign_state TO txmgr_app;

-- Down Migration
REVOKE DELETE ON campaigns, campaign_state FROM txmgr_app;
DROP TABLE campaign_reward_batches;
