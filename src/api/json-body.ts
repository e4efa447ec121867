import { ApiError } from './errors';

/** Deeper than any request body of the API (an operation list is 4 levels): a deeper body is refused before parsing. */
export const MAX_JSON_DEPTH = 32;

const REFUSED_KEYS = new Set(['__proto__', 'constructor']);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * The charset a JSON body may declare: none or UTF-8 (RFC 8259). A body labelled latin1 or
 * UTF-16 would otherwise be read as UTF-8 and mean something else than its sender wrote.
 */
export function checkJsonCharset(contentType: string | undefined): void {
  const m = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '');
  if (m && !/^utf-?8$/i.test(m[1] ?? '')) {
    throw new ApiError(415, 'UnsupportedMediaType', 'send the body as application/json in UTF-8', 'content-type');
  }
}

/** How deep the arrays and objects of a JSON text nest (brackets inside strings not counted), stopping past `limit`. */
function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      max = Math.max(max, ++depth);
      if (max > limit) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** The first refused key or string in `value`, with its path: a prototype key, a NUL or a lone UTF-16 surrogate. */
function refusal(value: unknown, path: string[]): ApiError | undefined {
  const where = () => path.join('.') || 'body';
  if (typeof value === 'string') {
    if (value.includes('\u0000'))
      return new ApiError(422, 'ValidationError', `${where()}: must not contain NUL characters`, where());
    if (LONE_SURROGATE.test(value)) {
      return new ApiError(422, 'ValidationError', `${where()}: must be valid Unicode (it holds a lone surrogate)`, where());
    }
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (REFUSED_KEYS.has(key)) return new ApiError(422, 'ValidationError', `the body must not hold a "${key}" key`, key);
    const inKey = refusal(key, [...path, '(key)']);
    if (inKey) return inKey;
    const inValue = refusal(v, [...path, key]);
    if (inValue) return inValue;
  }
  return undefined;
}

/**
 * Reads a JSON request body: strict UTF-8 (400 otherwise), at most MAX_JSON_DEPTH levels
 * deep, and no `__proto__` or `constructor` key, NUL character or lone surrogate anywhere
 * (422 naming where). Syntax errors are 400.
 */
export function parseJsonBody(body: string | Buffer): unknown {
  let text: string;
  try {
    text = typeof body === 'string' ? body : utf8.decode(body);
  } catch {
    throw new ApiError(400, 'MalformedJson', 'the body is not valid UTF-8', null);
  }
  if (text.length === 0)
    throw new ApiError(400, 'MalformedJson', 'the body is empty but its content-type is application/json', null);
  if (nestingDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new ApiError(422, 'ValidationError', `the body nests deeper than ${MAX_JSON_DEPTH} levels`, null);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'MalformedJson', 'the body is not valid JSON', null);
  }
  const refused = refusal(value, []);
  if (refused) throw refused;
  return value;
}
