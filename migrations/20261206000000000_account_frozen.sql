-- Up Migration
-- An account can be frozen (by an operator or an operation of the transaction core): a frozen
-- account takes part in no new withdrawal, trade or transfer out. Shared by the sagas and the core.
ALTER TABLE accounts
  ADD COLUMN frozen boolean NOT NULL DEFAULT false,
  ADD COLUMN frozen_reason text,
  ADD COLUMN frozen_at timestamptz,
  ADD CONSTRAINT accounts_frozen_fields CHECK (frozen = (frozen_at IS NOT NULL));

-- Down Migration
ALTER TABLE accounts DROP CONSTRAINT accounts_frozen_fields, DROP COLUMN frozen_at, DROP COLUMN frozen_reason, DROP COLUMN frozen;
