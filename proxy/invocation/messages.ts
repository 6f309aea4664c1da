import { HTTPExtension_Verb } from '../../gen/proto/dapr/proto/common/v1/common_pb.js';
import { APIVersion } from '../../gen/proto/dapr/proto/internals/v1/apiversion_pb.js';
import { lenFieldSize, varintSize, WIRE_LEN, WIRE_VARINT, WireError, WireReader, WireWriter } from './wire.js';

/** An invocation as every front sees it: an HTTP exchange with the app, whichever way it travels. */
export interface InvocationRequest {
  /** Upper-case HTTP verb. */
  verb: string;
  /** Method path without the leading '/', still percent-encoded as the caller sent it. */
  method: string;
  /** Raw query string without '?'. */
  query: string;
  /** Flat [name, value, ...]: end-to-end headers only (content-type included), names lower-case. */
  headers: string[];
  body: Uint8Array;
}

export interface InvocationResponse {
  status: number;
  /** Flat [name, value, ...]: end-to-end headers only (content-type included). */
  headers: string[];
  body: Uint8Array;
}

export const CALL_LOCAL_PATH = '/dapr.proto.internals.v1.ServiceInvocation/CallLocal';

const verbByName = new Map<string, HTTPExtension_Verb>([
  ['GET', HTTPExtension_Verb.GET],
  ['HEAD', HTTPExtension_Verb.HEAD],
  ['POST', HTTPExtension_Verb.POST],
  ['PUT', HTTPExtension_Verb.PUT],
  ['DELETE', HTTPExtension_Verb.DELETE],
  ['CONNECT', HTTPExtension_Verb.CONNECT],
  ['OPTIONS', HTTPExtension_Verb.OPTIONS],
  ['TRACE', HTTPExtension_Verb.TRACE],
  ['PATCH', HTTPExtension_Verb.PATCH],
]);
const nameByVerb = new Map<HTTPExtension_Verb, string>([...verbByName].map(([name, verb]) => [verb, name]));

export function isSupportedVerb(verb: string): boolean {
  return verbByName.has(verb);
}

/** Dapr's verb enum to an HTTP verb; NONE (gRPC callers that set no verb) means POST, as daprd does. */
export function verbName(verb: HTTPExtension_Verb): string {
  return nameByVerb.get(verb) ?? 'POST';
}

/*
 * InternalInvokeRequest / InternalInvokeResponse (dapr/proto/internals/v1/service_invocation.proto) are encoded
 * and decoded by hand: they carry every invocation, and reflection-based encoding cost several times the rest of
 * the hop. Field order and presence follow what protobuf-es writes for the same message, and the tests hold the
 * two byte for byte against the generated code.
 *
 * InternalInvokeRequest  { ver = 1; map<string, ListStringValue> metadata = 2; InvokeRequest message = 3; }
 * InvokeRequest          { method = 1; Any data = 2; content_type = 3; HTTPExtension http_extension = 4; }
 * HTTPExtension          { Verb verb = 1; querystring = 2; }          Any { type_url = 1; bytes value = 2; }
 * InternalInvokeResponse { Status status = 1; map headers = 2; map trailers = 3; InvokeResponse message = 4; }
 * Status                 { int32 code = 1; message = 2; }                InvokeResponse { Any data = 1; content_type = 2; }
 * ListStringValue        { repeated string values = 1; }          map entry { key = 1; value = 2; }
 */

/** Reused between calls: a header's group leader (first index with the same name) and each string's UTF-8 size. */
let leaders: number[] = [];
let byteLengths: number[] = [];

interface MetadataLayout {
  /** Index of content-type in the header list, or -1. */
  contentTypeAt: number;
  /** Encoded size of all map entries, tags included. */
  size: number;
}

// Sizes the metadata map for `headers` and fills the scratch arrays the writer then walks. Repeated header names
// become one entry with several values: a map keeps only the last entry for a key.
function layoutMetadata(headers: readonly string[]): MetadataLayout {
  const count = headers.length >> 1;
  if (leaders.length < count) {
    leaders = new Array<number>(count);
    byteLengths = new Array<number>(headers.length);
  }
  let contentTypeAt = -1;
  for (let i = 0; i < count; i++) {
    const name = headers[2 * i]!;
    leaders[i] = i;
    for (let j = 0; j < i; j++) {
      if (headers[2 * j] === name) {
        leaders[i] = leaders[j]!;
        break;
      }
    }
    if (name === 'content-type' && contentTypeAt === -1) contentTypeAt = i;
    byteLengths[2 * i] = Buffer.byteLength(name);
    byteLengths[2 * i + 1] = Buffer.byteLength(headers[2 * i + 1]!);
  }
  let size = 0;
  for (let i = 0; i < count; i++) {
    if (leaders[i] !== i || i === contentTypeAt) continue;
    size += lenFieldSize(entrySize(i, count));
  }
  return { contentTypeAt, size };
}

function listSize(leader: number, count: number): number {
  let size = 0;
  for (let i = leader; i < count; i++) if (leaders[i] === leader) size += lenFieldSize(byteLengths[2 * i + 1]!);
  return size;
}

function entrySize(leader: number, count: number): number {
  return lenFieldSize(byteLengths[2 * leader]!) + lenFieldSize(listSize(leader, count));
}

function writeMetadata(w: WireWriter, field: number, headers: readonly string[], layout: MetadataLayout): void {
  const count = headers.length >> 1;
  for (let i = 0; i < count; i++) {
    if (leaders[i] !== i || i === layout.contentTypeAt) continue;
    w.message(field, entrySize(i, count));
    w.string(1, headers[2 * i]!, byteLengths[2 * i]!);
    w.message(2, listSize(i, count));
    for (let j = i; j < count; j++) {
      if (leaders[j] === i) w.string(1, headers[2 * j + 1]!, byteLengths[2 * j + 1]!);
    }
  }
}

function anySize(body: Uint8Array): number {
  return body.byteLength === 0 ? 0 : lenFieldSize(body.byteLength);
}

export function encodeInternalRequest(req: InvocationRequest): Buffer {
  const layout = layoutMetadata(req.headers);
  const contentType = layout.contentTypeAt === -1 ? '' : req.headers[2 * layout.contentTypeAt + 1]!;
  const contentTypeBytes = layout.contentTypeAt === -1 ? 0 : byteLengths[2 * layout.contentTypeAt + 1]!;
  const methodBytes = Buffer.byteLength(req.method);
  const queryBytes = Buffer.byteLength(req.query);
  const verb = verbByName.get(req.verb) ?? HTTPExtension_Verb.NONE;
  const extensionSize = (verb === HTTPExtension_Verb.NONE ? 0 : 1 + varintSize(verb)) + (queryBytes === 0 ? 0 : lenFieldSize(queryBytes));
  const dataSize = anySize(req.body);
  const messageSize =
    (methodBytes === 0 ? 0 : lenFieldSize(methodBytes)) +
    lenFieldSize(dataSize) +
    (contentTypeBytes === 0 ? 0 : lenFieldSize(contentTypeBytes)) +
    lenFieldSize(extensionSize);
  const w = new WireWriter(Buffer.allocUnsafe(2 + layout.size + lenFieldSize(messageSize)));
  w.tag(1, WIRE_VARINT);
  w.varint(APIVersion.V1);
  writeMetadata(w, 2, req.headers, layout);
  w.message(3, messageSize);
  if (methodBytes !== 0) w.string(1, req.method, methodBytes);
  w.message(2, dataSize);
  if (dataSize !== 0) w.bytes(2, req.body);
  if (contentTypeBytes !== 0) w.string(3, contentType, contentTypeBytes);
  w.message(4, extensionSize);
  if (verb !== HTTPExtension_Verb.NONE) {
    w.tag(1, WIRE_VARINT);
    w.varint(verb);
  }
  if (queryBytes !== 0) w.string(2, req.query, queryBytes);
  return w.buf;
}

export function encodeInternalResponse(res: InvocationResponse): Buffer {
  const layout = layoutMetadata(res.headers);
  const contentType = layout.contentTypeAt === -1 ? '' : res.headers[2 * layout.contentTypeAt + 1]!;
  const contentTypeBytes = layout.contentTypeAt === -1 ? 0 : byteLengths[2 * layout.contentTypeAt + 1]!;
  const statusSize = res.status === 0 ? 0 : 1 + varintSize(res.status);
  const dataSize = anySize(res.body);
  const messageSize = lenFieldSize(dataSize) + (contentTypeBytes === 0 ? 0 : lenFieldSize(contentTypeBytes));
  const w = new WireWriter(Buffer.allocUnsafe(lenFieldSize(statusSize) + layout.size + lenFieldSize(messageSize)));
  w.message(1, statusSize);
  if (statusSize !== 0) {
    w.tag(1, WIRE_VARINT);
    w.varint(res.status);
  }
  writeMetadata(w, 2, res.headers, layout);
  w.message(4, messageSize);
  w.message(1, dataSize);
  if (dataSize !== 0) w.bytes(2, res.body);
  if (contentTypeBytes !== 0) w.string(2, contentType, contentTypeBytes);
  return w.buf;
}

/** Metadata keys that a gRPC peer may send but an HTTP app must not see under their own names. */
function httpHeaderName(key: string): string | null {
  if (key.endsWith('-bin')) return null;
  if (key === 'destination-app-id') return null;
  if (key.startsWith(':')) return 'dapr-' + key.slice(1);
  if (key.startsWith('grpc-')) return 'dapr-' + key;
  return key;
}

// Appends one map entry's header pairs; a content-type entry is kept aside for the caller to reconcile with the
// message's own content type.
function readMetadataEntry(r: WireReader, headers: string[], contentTypes: string[]): void {
  const start = r.span();
  const entry = new WireReader(r.buf, start, r.pos);
  let name: string | null = null;
  let valuesStart = -1;
  let valuesEnd = -1;
  while (!entry.done) {
    const tag = entry.varint();
    if (tag === ((1 << 3) | WIRE_LEN)) name = httpHeaderName(entry.string().toLowerCase());
    else if (tag === ((2 << 3) | WIRE_LEN)) {
      valuesStart = entry.span();
      valuesEnd = entry.pos;
    } else entry.skip(tag & 7);
  }
  if (name === null || valuesStart === -1) return;
  const values = new WireReader(r.buf, valuesStart, valuesEnd);
  while (!values.done) {
    const tag = values.varint();
    if (tag !== ((1 << 3) | WIRE_LEN)) {
      values.skip(tag & 7);
      continue;
    }
    const value = values.string();
    if (name === 'content-type') contentTypes.push(value);
    else headers.push(name, value);
  }
}

/** Any.value, as a view into the received bytes. */
function readAnyValue(r: WireReader): Uint8Array {
  const start = r.span();
  const any = new WireReader(r.buf, start, r.pos);
  let value: Uint8Array = EMPTY;
  while (!any.done) {
    const tag = any.varint();
    if (tag === ((2 << 3) | WIRE_LEN)) {
      const at = any.span();
      value = r.buf.subarray(at, any.pos);
    } else any.skip(tag & 7);
  }
  return value;
}

const EMPTY = new Uint8Array(0);

function withContentType(headers: string[], fromMessage: string, fromMetadata: readonly string[]): string[] {
  // The message's own content type wins over a header copy.
  if (fromMessage !== '') headers.push('content-type', fromMessage);
  else for (const value of fromMetadata) headers.push('content-type', value);
  return headers;
}

export function decodeInternalRequest(bytes: Uint8Array): InvocationRequest {
  const r = new WireReader(asBuffer(bytes));
  const headers: string[] = [];
  const contentTypes: string[] = [];
  let method = '';
  let contentType = '';
  let verb: HTTPExtension_Verb = HTTPExtension_Verb.NONE;
  let query = '';
  let body: Uint8Array = EMPTY;
  while (!r.done) {
    const tag = r.varint();
    if (tag === ((2 << 3) | WIRE_LEN)) {
      readMetadataEntry(r, headers, contentTypes);
    } else if (tag === ((3 << 3) | WIRE_LEN)) {
      const start = r.span();
      const m = new WireReader(r.buf, start, r.pos);
      while (!m.done) {
        const field = m.varint();
        if (field === ((1 << 3) | WIRE_LEN)) method = m.string();
        else if (field === ((2 << 3) | WIRE_LEN)) body = readAnyValue(m);
        else if (field === ((3 << 3) | WIRE_LEN)) contentType = m.string();
        else if (field === ((4 << 3) | WIRE_LEN)) {
          const at = m.span();
          const ext = new WireReader(m.buf, at, m.pos);
          while (!ext.done) {
            const extField = ext.varint();
            if (extField === ((1 << 3) | WIRE_VARINT)) verb = ext.varint();
            else if (extField === ((2 << 3) | WIRE_LEN)) query = ext.string();
            else ext.skip(extField & 7);
          }
        } else m.skip(field & 7);
      }
    } else r.skip(tag & 7);
  }
  return {
    verb: verbName(verb),
    method: method.startsWith('/') ? method.slice(1) : method,
    query,
    headers: withContentType(headers, contentType, contentTypes),
    body,
  };
}

/**
 * `status.code` below 100 is a gRPC code from a gRPC app; daprd answers an HTTP caller with the mapped HTTP
 * status and the status itself as a JSON body.
 */
export function decodeInternalResponse(bytes: Uint8Array): InvocationResponse {
  const r = new WireReader(asBuffer(bytes));
  const headers: string[] = [];
  const contentTypes: string[] = [];
  let code = 200;
  let sawStatus = false;
  let statusMessage = '';
  let contentType = '';
  let body: Uint8Array = EMPTY;
  while (!r.done) {
    const tag = r.varint();
    if (tag === ((1 << 3) | WIRE_LEN)) {
      const start = r.span();
      const s = new WireReader(r.buf, start, r.pos);
      sawStatus = true;
      code = 0;
      while (!s.done) {
        const field = s.varint();
        if (field === ((1 << 3) | WIRE_VARINT)) code = s.int32();
        else if (field === ((2 << 3) | WIRE_LEN)) statusMessage = s.string();
        else s.skip(field & 7);
      }
    } else if (tag === ((2 << 3) | WIRE_LEN)) {
      readMetadataEntry(r, headers, contentTypes);
    } else if (tag === ((4 << 3) | WIRE_LEN)) {
      const start = r.span();
      const m = new WireReader(r.buf, start, r.pos);
      while (!m.done) {
        const field = m.varint();
        if (field === ((1 << 3) | WIRE_LEN)) body = readAnyValue(m);
        else if (field === ((2 << 3) | WIRE_LEN)) contentType = m.string();
        else m.skip(field & 7);
      }
    } else r.skip(tag & 7);
  }
  if (!sawStatus || code === 0 || code >= 100) {
    // No status, or gRPC OK from a gRPC app: the app's data with HTTP 200.
    return { status: code >= 100 ? code : 200, headers: withContentType(headers, contentType, contentTypes), body };
  }
  const json = JSON.stringify({ code, message: statusMessage, details: [] });
  return { status: httpStatusFromGrpc(code), headers: ['content-type', 'application/json'], body: Buffer.from(json) };
}

const httpByGrpc = [200, 408, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

function httpStatusFromGrpc(code: number): number {
  return httpByGrpc[code] ?? 500;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export { WireError };
