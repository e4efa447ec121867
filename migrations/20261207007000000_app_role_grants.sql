-- Up Migration
-- The application role's privileges, checked against what the code does: the compensations
-- that undo a campaign's setup delete its record and state rows, and the API removes an
-- idempotency claim whose request failed before it answered. Money rows stay append-only:
-- transfers, fills, trades and the change log are written once and never updated or deleted.
GRANT DELETE ON campaigns, campaign_state, api_idempotency TO txmgr_app;
REVOKE UPDATE, DELETE, TRUNCATE ON transfers, fills, trades, change_log, api_audit, hold_tombstones, campaign_tombstones
  FROM txmgr_app;

-- Down Migration
GRANT UPDATE ON transfers, fills, trades, change_log, api_audit, hold_tombstones, campaign_tombstones TO txmgr_app;
REVOKE DELETE ON campaigns, campaign_state, api_idempotency FROM txmgr_app;
