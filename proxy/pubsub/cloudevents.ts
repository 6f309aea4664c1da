// CloudEvents 1.0 envelopes as daprd builds them (components-contrib's pubsub envelope): a published body is wrapped
// with Dapr's attributes, a body that already is a CloudEvent keeps its own attributes, and the JSON written is the
// JSON daprd writes (keys sorted, `<`, `>`, `&` escaped). A JSON body is validated and spliced into the envelope as
// bytes rather than parsed and re-encoded: publishing is a hot path, and splicing also keeps big numbers exact.

import { randomUUID } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { PubSubMetadata } from '../../components/pubsub/pubsub.js';
import { goJson } from '../http/json-body.js';

export const CLOUD_EVENT_CONTENT_TYPE = 'application/cloudevents+json';
export const CLOUD_EVENTS_SPEC_VERSION = '1.0';
export const DEFAULT_EVENT_TYPE = 'com.dapr.event.sent';
/** The source daprd gives an event whose publisher did not set one. */
export const DEFAULT_EVENT_SOURCE = 'Dapr';
export const DEFAULT_DATA_CONTENT_TYPE = 'text/plain';
const BINARY_CONTENT_TYPE = 'application/octet-stream';

/** Encoded JSON known to be valid: the serialiser writes these bytes as they are. */
export class RawJson {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * A CloudEvent as attribute name -> value. Values are strings, RawJson, or anything JSON can encode; an
 * `undefined` value is left out.
 */
export type CloudEvent = Record<string, unknown>;

/** The body cannot become a CloudEvent (a CloudEvent body that is not a JSON object). */
export class CloudEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CloudEventError';
  }
}

// Media type checks as components-contrib makes them: case-insensitive, parameters after ';' ignored.
function hasMediaType(contentType: string, expected: string): boolean {
  const lower = contentType.toLowerCase();
  if (lower === expected) return true;
  const semicolon = lower.indexOf(';');
  return semicolon >= 0 && lower.slice(0, semicolon) === expected;
}

export const isJsonContentType = (contentType: string): boolean => hasMediaType(contentType, 'application/json');
export const isCloudEventContentType = (contentType: string): boolean => hasMediaType(contentType, CLOUD_EVENT_CONTENT_TYPE);
export const isBinaryContentType = (contentType: string): boolean => hasMediaType(contentType, BINARY_CONTENT_TYPE);
export const isStringContentType = (contentType: string): boolean =>
  contentType.toLowerCase().startsWith('text/') || hasMediaType(contentType, 'application/xml');

export interface EnvelopeFields {
  /** Default: a new UUID. */
  id?: string;
  /** Default: DEFAULT_EVENT_SOURCE. */
  source?: string;
  /** Default: DEFAULT_EVENT_TYPE. */
  type?: string;
  topic: string;
  pubsubName: string;
  /** Default: DEFAULT_DATA_CONTENT_TYPE. */
  dataContentType?: string;
  data: Uint8Array;
  traceparent?: string;
  tracestate?: string;
}

/**
 * Wraps a payload in Dapr's envelope. The payload goes into `data` as JSON for a JSON content type (as a string
 * when it is not valid JSON), into `data_base64` for `application/octet-stream`, and into `data` as a string
 * otherwise. `traceid` and `traceparent` both carry the traceparent.
 */
export function newCloudEvent(fields: EnvelopeFields): CloudEvent {
  const dataContentType = fields.dataContentType || DEFAULT_DATA_CONTENT_TYPE;
  const event: CloudEvent = {
    id: fields.id || randomUUID(),
    specversion: CLOUD_EVENTS_SPEC_VERSION,
    datacontenttype: dataContentType,
    source: fields.source || DEFAULT_EVENT_SOURCE,
    type: fields.type || DEFAULT_EVENT_TYPE,
    topic: fields.topic,
    pubsubname: fields.pubsubName,
    traceid: fields.traceparent ?? '',
    traceparent: fields.traceparent ?? '',
    tracestate: fields.tracestate ?? '',
  };
  if (isJsonContentType(dataContentType)) event['data'] = jsonData(fields.data);
  else if (isBinaryContentType(dataContentType)) event['data_base64'] = bufferOf(fields.data).toString('base64');
  else event['data'] = utf8(fields.data, 0, fields.data.byteLength);
  return event;
}

/**
 * The envelope a raw-payload subscription hands to the app: the message bytes in `data_base64`,
 * whatever they are, since nothing tells their type.
 */
export function rawPayloadEvent(data: Uint8Array, topic: string, pubsubName: string): CloudEvent {
  return {
    id: randomUUID(),
    specversion: CLOUD_EVENTS_SPEC_VERSION,
    datacontenttype: BINARY_CONTENT_TYPE,
    source: DEFAULT_EVENT_SOURCE,
    type: DEFAULT_EVENT_TYPE,
    topic,
    pubsubname: pubsubName,
    data_base64: bufferOf(data).toString('base64'),
  };
}

export interface PublishedEventInit {
  body: Uint8Array;
  /** The request's content type; '' when it had none. */
  contentType: string;
  topic: string;
  pubsubName: string;
  /** The publisher's app id. */
  source: string;
  /** Of the publish span. */
  traceparent: string;
  tracestate: string;
  /** Request metadata: `cloudevent.*` overrides and `ttlInSeconds`. */
  metadata: PubSubMetadata;
  /** The broker expires messages itself (MESSAGE_TTL), so no `expiration` is stamped. */
  brokerHandlesTtl: boolean;
  nowMs: number;
}

/**
 * The event daprd publishes for an API request. A body of type `application/cloudevents+json` keeps its attributes,
 * except the trace, topic and pub/sub ones, which are overwritten, and `source`, `type` and `specversion`, which are
 * defaulted when missing; any other body is wrapped, with `cloudevent.*` metadata overriding the id, source, type
 * and trace attributes. An `expiration` is stamped for `ttlInSeconds` unless the broker handles TTL.
 * Throws CloudEventError when a CloudEvent body is not a JSON object.
 */
export function publishedCloudEvent(init: PublishedEventInit): CloudEvent {
  const event = isCloudEventContentType(init.contentType) ? passedThrough(init) : wrapped(init);
  const ttl = ttlSeconds(init.metadata);
  if (ttl !== undefined && !init.brokerHandlesTtl) event['expiration'] = rfc3339(init.nowMs + ttl * 1000);
  return event;
}

function passedThrough(init: PublishedEventInit): CloudEvent {
  const event = cloudEventAttributes(init.body);
  event['traceid'] = init.traceparent;
  event['traceparent'] = init.traceparent;
  event['tracestate'] = init.tracestate;
  event['topic'] = init.topic;
  event['pubsubname'] = init.pubsubName;
  if (isNull(event['source'])) event['source'] = DEFAULT_EVENT_SOURCE;
  if (isNull(event['type'])) event['type'] = DEFAULT_EVENT_TYPE;
  if (isNull(event['specversion'])) event['specversion'] = CLOUD_EVENTS_SPEC_VERSION;
  return event;
}

// The attributes `metadata.cloudevent.<name>` may set, matched ignoring case as daprd's decoder does.
const OVERRIDABLE = new Set(['id', 'source', 'type', 'traceid', 'traceparent', 'tracestate']);

function wrapped(init: PublishedEventInit): CloudEvent {
  const overrides: Record<string, string> = {};
  for (const key of Object.keys(init.metadata)) {
    const lower = key.toLowerCase();
    if (!lower.startsWith('cloudevent.')) continue;
    const attribute = lower.slice('cloudevent.'.length);
    if (OVERRIDABLE.has(attribute)) overrides[attribute] = init.metadata[key]!;
  }
  // An overriding traceparent wins over an overriding traceid, which wins over the publish span's.
  let traceparent = overrides['traceid'] ?? init.traceparent;
  if (overrides['traceparent']) traceparent = overrides['traceparent'];
  return newCloudEvent({
    id: overrides['id'],
    source: overrides['source'] ?? init.source,
    type: overrides['type'],
    topic: init.topic,
    pubsubName: init.pubsubName,
    dataContentType: init.contentType,
    data: init.body,
    traceparent,
    tracestate: overrides['tracestate'] ?? init.tracestate,
  });
}

/** A `ttlInSeconds` daprd accepts (a positive int64; anything else is ignored), capped where Go's duration ends. */
function ttlSeconds(metadata: PubSubMetadata): number | undefined {
  const raw = metadata['ttlInSeconds'];
  if (raw === undefined || !/^[+-]?\d+$/.test(raw)) return undefined;
  const value = BigInt(raw);
  if (value <= 0n || value > INT64_MAX) return undefined;
  return value > MAX_DURATION_SECONDS ? Number(MAX_DURATION_SECONDS) : Number(value);
}

const INT64_MAX = 9_223_372_036_854_775_807n;
const MAX_DURATION_SECONDS = INT64_MAX / 1_000_000_000n;

/** RFC 3339 in UTC with whole seconds, as Go's time.RFC3339 writes it. */
function rfc3339(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/**
 * Serialises an event as daprd does: keys in byte order, strings with `<`, `>`, `&`, U+2028 and U+2029 escaped.
 * RawJson values are copied in as they are; the result is built in one buffer.
 */
export function serializeCloudEvent(event: CloudEvent): Buffer {
  const keys = Object.keys(event).sort(compareCodePoints);
  const parts: Array<string | Uint8Array> = [];
  let text = '{';
  let first = true;
  for (const key of keys) {
    const value = event[key];
    if (value === undefined) continue;
    text += `${first ? '' : ','}${quote(key)}:`;
    first = false;
    if (!(value instanceof RawJson)) {
      text += typeof value === 'string' ? quote(value) : goJson(value);
    } else if (value.bytes.byteLength < SPLICE_THRESHOLD) {
      text += utf8(value.bytes, 0, value.bytes.byteLength);
    } else {
      parts.push(text, value.bytes);
      text = '';
    }
  }
  text += '}';
  if (parts.length === 0) return Buffer.from(text);
  parts.push(text);
  let length = 0;
  for (const part of parts) length += typeof part === 'string' ? Buffer.byteLength(part) : part.byteLength;
  const out = Buffer.allocUnsafe(length);
  let offset = 0;
  for (const part of parts) {
    if (typeof part === 'string') {
      offset += out.write(part, offset);
    } else {
      out.set(part, offset);
      offset += part.byteLength;
    }
  }
  return out;
}

// Below this size a RawJson value costs less as text in the one string than as a separate copy.
const SPLICE_THRESHOLD = 4096;

const NEEDS_ESCAPE = /["\\<>&\u0000-\u001f\u2028\u2029]/;

/** A string as Go's encoder writes it; most attribute values need no escaping at all. */
function quote(value: string): string {
  return NEEDS_ESCAPE.test(value) ? goJson(value) : `"${value}"`;
}

// UTF-8 byte order, which is code point order (plain string comparison orders UTF-16 units).
function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** `data` for a JSON content type: the first JSON value of the body, or the whole body as a string. */
function jsonData(body: Uint8Array): unknown {
  const span = scanJsonValue(body);
  if (span === null) return utf8(body, 0, body.byteLength);
  const value = body.subarray(span.start, span.end);
  // Go's decoder turns invalid UTF-8 into U+FFFD: such a value is decoded and encoded again.
  return isUtf8(value) ? new RawJson(value) : JSON.parse(utf8(body, span.start, span.end));
}

function cloudEventAttributes(body: Uint8Array): CloudEvent {
  // No prototype: an attribute named `__proto__` is an attribute like any other.
  const event = Object.create(null) as CloudEvent;
  const span = scanJsonValue(body, (keyStart, keyEnd, valueStart, valueEnd) => {
    event[jsonKey(body, keyStart, keyEnd)] = new RawJson(body.subarray(valueStart, valueEnd));
  });
  if (span === null) throw new CloudEventError('the CloudEvent is not valid JSON');
  if (body[span.start] !== OPEN_OBJECT) throw new CloudEventError('the CloudEvent is not a JSON object');
  // Go's decoder turns invalid UTF-8 into U+FFFD: such an event is decoded and encoded again.
  return isUtf8(body.subarray(span.start, span.end)) ? event : (JSON.parse(utf8(body, span.start, span.end)) as CloudEvent);
}

function jsonKey(body: Uint8Array, start: number, end: number): string {
  return body.subarray(start, end).includes(BACKSLASH) ? (JSON.parse(utf8(body, start, end)) as string) : utf8(body, start + 1, end - 1);
}

function isNull(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (!(value instanceof RawJson)) return false;
  const bytes = value.bytes;
  return bytes.byteLength === 4 && bytes[0] === 0x6e && bytes[1] === 0x75 && bytes[2] === 0x6c && bytes[3] === 0x6c;
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function utf8(bytes: Uint8Array, start: number, end: number): string {
  return bufferOf(bytes).toString('utf8', start, end);
}

// --- A validating JSON scanner: finds the first JSON value without building it. ---

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const IN_OBJECT = 1;
const IN_ARRAY = 2;
// Go's decoder refuses deeper nesting.
const MAX_DEPTH = 10_000;

interface JsonSpan {
  start: number;
  end: number;
}

/** Called for each member of a top-level object with the byte ranges of its key (quotes included) and value. */
type MemberVisitor = (keyStart: number, keyEnd: number, valueStart: number, valueEnd: number) => void;

/**
 * The range of the first JSON value in `bytes` after leading whitespace, or null when it is not valid JSON.
 * What follows the value is ignored, as Go's json.Decoder ignores it.
 */
function scanJsonValue(bytes: Uint8Array, onMember?: MemberVisitor): JsonSpan | null {
  const start = skipSpace(bytes, 0);
  const stack: number[] = [];
  let keyStart = -1;
  let keyEnd = -1;
  let valueStart = -1;
  let i = start;
  // Reads `"key" :` at i and returns where the member's value starts, or -1.
  const readKey = (at: number): number => {
    const end = stringEnd(bytes, at);
    if (end < 0) return -1;
    if (stack.length === 1) {
      keyStart = at;
      keyEnd = end;
    }
    const colon = skipSpace(bytes, end);
    return bytes[colon] === COLON ? skipSpace(bytes, colon + 1) : -1;
  };
  for (;;) {
    // A value starts at i.
    if (stack.length === 1) valueStart = i;
    const c = bytes[i];
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      stack.push(c === OPEN_OBJECT ? IN_OBJECT : IN_ARRAY);
      if (stack.length > MAX_DEPTH) return null;
      i = skipSpace(bytes, i + 1);
      if (bytes[i] !== (c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        if (c === OPEN_OBJECT && (i = readKey(i)) < 0) return null;
        continue;
      }
      stack.pop();
      i++;
    } else if (c === QUOTE) {
      i = stringEnd(bytes, i);
    } else if (c === 0x74) {
      i = literalEnd(bytes, i, 'true');
    } else if (c === 0x66) {
      i = literalEnd(bytes, i, 'false');
    } else if (c === 0x6e) {
      i = literalEnd(bytes, i, 'null');
    } else {
      i = numberEnd(bytes, i);
    }
    if (i < 0) return null;
    // A value ended at i: close the containers it completes, or move to the next element.
    for (;;) {
      const depth = stack.length;
      if (depth === 0) return { start, end: i };
      const container = stack[depth - 1];
      if (depth === 1 && container === IN_OBJECT) onMember?.(keyStart, keyEnd, valueStart, i);
      i = skipSpace(bytes, i);
      const next = bytes[i];
      if (next === COMMA) {
        i = skipSpace(bytes, i + 1);
        if (container === IN_OBJECT && (i = readKey(i)) < 0) return null;
        break;
      }
      if (next !== (container === IN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) return null;
      stack.pop();
      i++;
    }
  }
}

function skipSpace(bytes: Uint8Array, i: number): number {
  for (;;) {
    const c = bytes[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** End of the string starting at i (past its closing quote), or -1. */
function stringEnd(bytes: Uint8Array, i: number): number {
  if (bytes[i] !== QUOTE) return -1;
  const length = bytes.length;
  for (i++; i < length; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c !== BACKSLASH) continue;
    const escaped = bytes[++i];
    if (escaped === 0x75) {
      if (!isHex(bytes[i + 1]) || !isHex(bytes[i + 2]) || !isHex(bytes[i + 3]) || !isHex(bytes[i + 4])) return -1;
      i += 4;
    } else if (!SIMPLE_ESCAPES.has(escaped ?? -1)) {
      return -1;
    }
  }
  return -1;
}

// " \ / b f n r t
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function literalEnd(bytes: Uint8Array, i: number, literal: string): number {
  for (let k = 0; k < literal.length; k++) if (bytes[i + k] !== literal.charCodeAt(k)) return -1;
  return i + literal.length;
}

function numberEnd(bytes: Uint8Array, i: number): number {
  if (bytes[i] === 0x2d) i++;
  if (bytes[i] === 0x30) {
    i++;
  } else {
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  if (bytes[i] === 0x2e) {
    if (!isDigit(bytes[++i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  if (bytes[i] === 0x65 || bytes[i] === 0x45) {
    i++;
    if (bytes[i] === 0x2b || bytes[i] === 0x2d) i++;
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  return i;
}
