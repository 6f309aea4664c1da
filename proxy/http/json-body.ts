import { errors } from '../runtime/errors.js';

const malformed = errors.malformedRequest;

/** Parses an API body as JSON; undecodable bodies are 400 ERR_MALFORMED_REQUEST, as in daprd. */
export function parseBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw malformed(`failed to parse the request body as JSON: ${(err as Error).message}`);
  }
}

/**
 * The fields of a JSON object with lower-cased names: daprd decodes bodies with Go's encoding/json, which matches
 * field names case-insensitively and takes `null` for an absent object. SDKs rely on both.
 */
export function fieldsOf(value: unknown, what: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw malformed(`${what} must be a JSON object`);
  const fields: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) fields[name.toLowerCase()] = field;
  return fields;
}

export function optionalString(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw malformed(`${what} must be a string`);
  return value;
}

/** A `map<string,string>` field: scalar values are stringified, `null` is empty. */
export function stringMap(value: unknown, what: string): Record<string, string> {
  const fields = fieldsOfPreservingCase(value, what);
  const out: Record<string, string> = {};
  for (const [name, field] of Object.entries(fields)) {
    if (field === null || typeof field === 'object') throw malformed(`${what}.${name} must be a string`);
    out[name] = String(field);
  }
  return out;
}

function fieldsOfPreservingCase(value: unknown, what: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw malformed(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * JSON as Go's encoding/json writes an `interface{}`: object keys sorted, `<`, `>`, `&`, U+2028 and U+2029
 * escaped. daprd stores HTTP state values this way, so the bytes in a shared store match what daprd would write.
 */
export function goJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return escapeHtml(JSON.stringify(value));
  if (Array.isArray(value)) return `[${value.map(goJson).join(',')}]`;
  const keys = Object.keys(value).sort(compareUtf8);
  return `{${keys.map((key) => `${escapeHtml(JSON.stringify(key))}:${goJson((value as Record<string, unknown>)[key])}`).join(',')}}`;
}

const HTML_UNSAFE = /[<>&\u2028\u2029]/;
const HTML_UNSAFE_ALL = /[<>&\u2028\u2029]/g;

function escapeHtml(json: string): string {
  return HTML_UNSAFE.test(json) ? json.replace(HTML_UNSAFE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
