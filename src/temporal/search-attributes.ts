import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes txmgr sets, so the Web UI can find sagas by type and status. */
export const SAGA_TYPE = defineSearchAttributeKey('TxmgrSagaType', SearchAttributeType.KEYWORD);
export const SAGA_STATUS = defineSearchAttributeKey('TxmgrSagaStatus', SearchAttributeType.KEYWORD);
export const ACCOUNT_ID = defineSearchAttributeKey('TxmgrAccountId', SearchAttributeType.KEYWORD);
export const SIPHON_STATE = defineSearchAttributeKey('TxmgrSiphonState', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [SAGA_TYPE, SAGA_STATUS, ACCOUNT_ID, SIPHON_STATE] as const;
export const SEARCH_ATTRIBUTE_NAMES: readonly string[] = SEARCH_ATTRIBUTES.map((k) => k.name);
