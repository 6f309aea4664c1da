import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { HTTPExtension_Verb, HTTPExtensionSchema, InvokeRequestSchema, InvokeResponseSchema } from '../../gen/proto/dapr/proto/common/v1/common_pb.js';
import { APIVersion } from '../../gen/proto/dapr/proto/internals/v1/apiversion_pb.js';
import {
  InternalInvokeRequestSchema,
  InternalInvokeResponseSchema,
  ListStringValueSchema,
  type ListStringValue,
} from '../../gen/proto/dapr/proto/internals/v1/service_invocation_pb.js';
import { StatusSchema } from '../../gen/proto/dapr/proto/internals/v1/status_pb.js';

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

export function verbOf(name: string): HTTPExtension_Verb {
  return verbByName.get(name) ?? HTTPExtension_Verb.NONE;
}

/** Groups a flat header list into Dapr's metadata map; content-type travels in its own field instead. */
function toMetadata(headers: readonly string[]): { contentType: string; metadata: Record<string, ListStringValue> } {
  const metadata: Record<string, ListStringValue> = {};
  let contentType = '';
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (name === 'content-type') {
      contentType = value;
      continue;
    }
    const existing = metadata[name];
    if (existing === undefined) metadata[name] = create(ListStringValueSchema, { values: [value] });
    else existing.values.push(value);
  }
  return { contentType, metadata };
}

/** Metadata keys that a gRPC peer may send but an HTTP app must not see under their own names. */
function httpHeaderName(key: string): string | null {
  if (key.endsWith('-bin')) return null;
  if (key === 'destination-app-id') return null;
  if (key.startsWith(':')) return 'dapr-' + key.slice(1);
  if (key.startsWith('grpc-')) return 'dapr-' + key;
  return key;
}

function fromMetadata(metadata: Record<string, ListStringValue>, contentType: string): string[] {
  const headers: string[] = [];
  let sawContentType = false;
  for (const key in metadata) {
    const name = httpHeaderName(key.toLowerCase());
    if (name === null) continue;
    if (name === 'content-type') {
      // The message's own content type wins over a header copy.
      if (contentType !== '') continue;
      sawContentType = true;
    }
    for (const value of metadata[key]!.values) headers.push(name, value);
  }
  if (contentType !== '' && !sawContentType) headers.push('content-type', contentType);
  return headers;
}

export function encodeInternalRequest(req: InvocationRequest): Uint8Array {
  const { contentType, metadata } = toMetadata(req.headers);
  return toBinary(
    InternalInvokeRequestSchema,
    create(InternalInvokeRequestSchema, {
      ver: APIVersion.V1,
      metadata,
      message: create(InvokeRequestSchema, {
        method: req.method,
        data: create(AnySchema, { typeUrl: '', value: req.body }),
        contentType,
        httpExtension: create(HTTPExtensionSchema, { verb: verbOf(req.verb), querystring: req.query }),
      }),
    }),
  );
}

export function decodeInternalRequest(bytes: Uint8Array): InvocationRequest {
  const decoded = fromBinary(InternalInvokeRequestSchema, bytes);
  const message = decoded.message;
  return {
    verb: verbName(message?.httpExtension?.verb ?? HTTPExtension_Verb.NONE),
    method: stripLeadingSlash(message?.method ?? ''),
    query: message?.httpExtension?.querystring ?? '',
    headers: fromMetadata(decoded.metadata, message?.contentType ?? ''),
    body: message?.data?.value ?? new Uint8Array(0),
  };
}

export function encodeInternalResponse(res: InvocationResponse): Uint8Array {
  const { contentType, metadata } = toMetadata(res.headers);
  return toBinary(
    InternalInvokeResponseSchema,
    create(InternalInvokeResponseSchema, {
      status: create(StatusSchema, { code: res.status, message: '' }),
      headers: metadata,
      message: create(InvokeResponseSchema, {
        data: create(AnySchema, { typeUrl: '', value: res.body }),
        contentType,
      }),
    }),
  );
}

/**
 * `status.code` below 100 is a gRPC code from a gRPC app; daprd answers an HTTP caller with the mapped HTTP
 * status and the status itself as a JSON body.
 */
export function decodeInternalResponse(bytes: Uint8Array): InvocationResponse {
  const decoded = fromBinary(InternalInvokeResponseSchema, bytes);
  const code = decoded.status?.code ?? 200;
  const contentType = decoded.message?.contentType ?? '';
  if (code >= 100) {
    return {
      status: code,
      headers: fromMetadata(decoded.headers, contentType),
      body: decoded.message?.data?.value ?? new Uint8Array(0),
    };
  }
  const body = JSON.stringify({ code, message: decoded.status?.message ?? '', details: [] });
  return { status: httpStatusFromGrpc(code), headers: ['content-type', 'application/json'], body: Buffer.from(body) };
}

const httpByGrpc = [200, 408, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

export function httpStatusFromGrpc(code: number): number {
  return httpByGrpc[code] ?? 500;
}

function stripLeadingSlash(path: string): string {
  return path.startsWith('/') ? path.slice(1) : path;
}
