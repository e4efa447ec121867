-- Up Migration
-- Ledger rules the database itself enforces, so no code path can break them.

-- A transfer, hold or deposit is in the asset of the accounts it touches.
ALTER TABLE accounts ADD CONSTRAINT accounts_id_asset_key UNIQUE (id, asset);
ALTER TABLE transfers
  ADD CONSTRAINT transfers_debit_account_asset_fkey FOREIGN KEY (debit_account_id, asset) REFERENCES accounts (id, asset),
  ADD CONSTRAINT transfers_credit_account_asset_fkey FOREIGN KEY (credit_account_id, asset) REFERENCES accounts (id, asset);
ALTER TABLE holds
  ADD CONSTRAINT holds_debit_account_asset_fkey FOREIGN KEY (debit_account_id, asset) REFERENCES accounts (id, asset),
  ADD CONSTRAINT holds_credit_account_asset_fkey FOREIGN KEY (credit_account_id, asset) REFERENCES accounts (id, asset);
ALTER TABLE deposits
  ADD CONSTRAINT deposits_account_asset_fkey FOREIGN KEY (account_id, asset) REFERENCES accounts (id, asset);

-- A capture moves money between its hold's accounts, in its hold's asset.
ALTER TABLE holds ADD CONSTRAINT holds_id_accounts_asset_key UNIQUE (id, debit_account_id, credit_account_id, asset);
ALTER TABLE transfers
  ADD CONSTRAINT transfers_capture_matches_hold_fkey FOREIGN KEY (hold_id, debit_account_id, credit_account_id, asset)
    REFERENCES holds (id, debit_account_id, credit_account_id, asset);

-- One transfer credits at most one deposit, and it is a credit of that deposit: its account,
-- asset and amount (a reversal clears transfer_id, so the key is not checked then).
ALTER TABLE deposits ADD CONSTRAINT deposits_transfer_id_key UNIQUE (transfer_id);
ALTER TABLE transfers ADD CONSTRAINT transfers_id_credit_asset_amount_key UNIQUE (id, credit_account_id, asset, amount);
ALTER TABLE deposits
  ADD CONSTRAINT deposits_credit_transfer_fkey FOREIGN KEY (transfer_id, account_id, asset, amount)
    REFERENCES transfers (id, credit_account_id, asset, amount);

-- A hold's status follows from its amounts: open while something remains; captured when all
-- of it was captured; released when the remainder was released (after partial captures or not).
ALTER TABLE holds
  ADD CONSTRAINT holds_captured_status CHECK (status <> 'captured' OR (captured = amount AND released = 0)),
  ADD CONSTRAINT holds_released_status CHECK (status <> 'released' OR (released > 0 AND captured + released = amount)),
  ADD CONSTRAINT holds_closed_at_status CHECK ((status = 'open') = (closed_at IS NULL));

-- Down Migration
ALTER TABLE holds
  DROP CONSTRAINT holds_closed_at_status,
  DROP CONSTRAINT holds_released_status,
  DROP CONSTRAINT holds_captured_status;
ALTER TABLE deposits DROP CONSTRAINT deposits_credit_transfer_fkey;
ALTER TABLE transfers DROP CONSTRAINT transfers_id_credit_asset_amount_key;
ALTER TABLE deposits DROP CONSTRAINT deposits_transfer_id_key;
ALTER TABLE transfers DROP CONSTRAINT transfers_capture_matches_hold_fkey;
ALTER TABLE holds DROP CONSTRAINT holds_id_accounts_asset_key;
ALTER TABLE deposits DROP CONSTRAINT deposits_account_asset_fkey;
ALTER TABLE holds
  DROP CONSTRAINT holds_credit_account_asset_fkey,
  DROP CONSTRAINT holds_debit_account_asset_fkey;
ALTER TABLE transfers
  DROP CONSTRAINT transfers_credit_account_asset_fkey,
  DROP CONSTRAINT transfers_debit_account_asset_fkey;
ALTER TABLE accounts DROP CONSTRAINT accounts_id_asset_key;
