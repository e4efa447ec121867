import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from './search-attributes';

type OperatorService = temporal.api.operatorservice.v1.OperatorService;
const IndexedValueType = temporal.api.enums.v1.IndexedValueType;

const INDEXED_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  TEXT: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** The SDK's type ("KEYWORD_LIST") as the Temporal CLI spells it ("KeywordList"). */
export function cliType(sdkType: string): string {
  return sdkType.toLowerCase().replace(/(^|_)(\w)/g, (_m, _u, c: string) => c.toUpperCase());
}

/** The exact command that registers one attribute, as printed to operators. */
export function registerCommand(address: string, namespace: string, name: string, sdkType: string): string {
  return `temporal operator search-attribute create --address ${address} --namespace ${namespace} --name ${name} --type ${cliType(sdkType)}`;
}

export interface SearchAttributeCheck {
  /** Registered with the type the code declares. */
  present: string[];
  /** Absent from the namespace. */
  missing: { name: string; type: string }[];
  /** Registered under another type (cannot be changed in place). */
  wrongType: { name: string; type: string; registered: string }[];
}

/** Which of txmgr's search attributes the namespace lacks; reads only. */
export async function checkSearchAttributes(
  connection: { operatorService: OperatorService },
  namespace: string,
): Promise<SearchAttributeCheck> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const custom = (existing.customAttributes ?? {}) as Record<string, temporal.api.enums.v1.IndexedValueType>;
  const result: SearchAttributeCheck = { present: [], missing: [], wrongType: [] };
  for (const k of SEARCH_ATTRIBUTES) {
    const registered = custom[k.name];
    if (registered === undefined) result.missing.push({ name: k.name, type: k.type });
    else if (registered !== INDEXED_TYPE[k.type]) {
      const name = IndexedValueType[registered] ?? String(registered);
      result.wrongType.push({ name: k.name, type: k.type, registered: name.replace(/^INDEXED_VALUE_TYPE_/, '') });
    } else result.present.push(k.name);
  }
  return result;
}

/**
 * Registers txmgr's search attributes on a namespace that lacks them (the embedded dev
 * server gets them at start); returns the names added. Workflows that upsert an
 * unknown attribute fail every workflow task.
 */
export async function ensureSearchAttributes(
  connection: { operatorService: OperatorService },
  namespace: string,
): Promise<string[]> {
  const { missing } = await checkSearchAttributes(connection, namespace);
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      missing.map((k) => [k.name, INDEXED_TYPE[k.type] as temporal.api.enums.v1.IndexedValueType]),
    ),
  });
  return missing.map((k) => k.name);
}
