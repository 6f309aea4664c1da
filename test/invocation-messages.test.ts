import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { HTTPExtension_Verb } from '../gen/proto/dapr/proto/common/v1/common_pb.js';
import {
  InternalInvokeRequestSchema,
  InternalInvokeResponseSchema,
  ListStringValueSchema,
  type ListStringValue,
} from '../gen/proto/dapr/proto/internals/v1/service_invocation_pb.js';
import {
  decodeInternalRequest,
  decodeInternalResponse,
  encodeInternalRequest,
  encodeInternalResponse,
  WireError,
  type InvocationRequest,
} from '../proxy/invocation/messages.js';

function metadataOf(pairs: Array<[string, string[]]>): Record<string, ListStringValue> {
  return Object.fromEntries(pairs.map(([k, values]) => [k, create(ListStringValueSchema, { values })]));
}

const requests: InvocationRequest[] = [
  { verb: 'POST', method: 'orders/42', query: 'a=1&b=%20', headers: ['content-type', 'application/json', 'x-a', '1'], body: Buffer.from('{"x":1}') },
  { verb: 'GET', method: '', query: '', headers: [], body: new Uint8Array(0) },
  { verb: 'PATCH', method: 'ü/ñ', query: 'q=ß', headers: ['x-rep', 'one', 'x-other', 'o', 'x-rep', 'two', 'x-uni', 'värde ✓'], body: Buffer.alloc(300, 7) },
  { verb: 'DELETE', method: 'big', query: '', headers: ['x-long', 'v'.repeat(20_000)], body: Buffer.alloc(200_000, 1) },
];

describe('invocation wire messages', () => {
  it('encodes InternalInvokeRequest byte for byte as the generated protobuf code does', () => {
    for (const req of requests) {
      const grouped = new Map<string, string[]>();
      let contentType = '';
      for (let i = 0; i < req.headers.length; i += 2) {
        if (req.headers[i] === 'content-type') contentType = req.headers[i + 1]!;
        else grouped.set(req.headers[i]!, [...(grouped.get(req.headers[i]!) ?? []), req.headers[i + 1]!]);
      }
      const reference = toBinary(
        InternalInvokeRequestSchema,
        create(InternalInvokeRequestSchema, {
          ver: 1,
          metadata: metadataOf([...grouped]),
          message: {
            method: req.method,
            data: create(AnySchema, { value: req.body }),
            contentType,
            httpExtension: { verb: HTTPExtension_Verb[req.verb as keyof typeof HTTPExtension_Verb], querystring: req.query },
          },
        }),
      );
      assert.deepEqual(encodeInternalRequest(req), Buffer.from(reference));
      const decoded = decodeInternalRequest(reference);
      assert.equal(decoded.verb, req.verb);
      assert.equal(decoded.method, req.method);
      assert.equal(decoded.query, req.query);
      assert.deepEqual(Buffer.from(decoded.body), Buffer.from(req.body));
      const sorted = (h: string[]) => [...Array(h.length / 2).keys()].map((i) => `${h[2 * i]}=${h[2 * i + 1]}`).sort();
      assert.deepEqual(sorted(decoded.headers), sorted(req.headers));
    }
  });

  it('encodes InternalInvokeResponse byte for byte as the generated protobuf code does', () => {
    const res = { status: 404, headers: ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2'], body: Buffer.from('nope') };
    const reference = toBinary(
      InternalInvokeResponseSchema,
      create(InternalInvokeResponseSchema, {
        status: { code: 404 },
        headers: metadataOf([['set-cookie', ['a=1', 'b=2']]]),
        message: { data: create(AnySchema, { value: res.body }), contentType: 'text/plain' },
      }),
    );
    assert.deepEqual(encodeInternalResponse(res), Buffer.from(reference));
    const decoded = decodeInternalResponse(reference);
    assert.equal(decoded.status, 404);
    assert.deepEqual(decoded.headers, ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-type', 'text/plain']);
    assert.equal(Buffer.from(decoded.body).toString(), 'nope');
  });

  it('reads what a daprd peer sends: canonical header names, gRPC keys, type URLs, trailers, unknown fields', () => {
    const fromDaprd = toBinary(
      InternalInvokeRequestSchema,
      create(InternalInvokeRequestSchema, {
        ver: 1,
        metadata: metadataOf([
          ['Content-Type', ['application/xml']],
          ['Traceparent', ['00-abc-def-01']],
          [':authority', ['callee']],
          ['grpc-trace-bin', ['AAA']],
          ['grpc-timeout', ['1S']],
          ['destination-app-id', ['callee']],
        ]),
        message: { method: '/with/slash', data: create(AnySchema, { typeUrl: 'type.googleapis.com/x', value: Buffer.from('<a/>') }), httpExtension: { verb: HTTPExtension_Verb.NONE } },
        actor: { actorType: 'ignored', actorId: 'too' },
      }),
    );
    const withUnknownField = Buffer.concat([Buffer.from(fromDaprd), Buffer.from([0x78, 0x05, 0x82, 0x01, 0x02, 0x68, 0x69])]);
    const decoded = decodeInternalRequest(withUnknownField);
    assert.equal(decoded.verb, 'POST');
    assert.equal(decoded.method, 'with/slash');
    assert.equal(Buffer.from(decoded.body).toString(), '<a/>');
    assert.deepEqual(decoded.headers, ['traceparent', '00-abc-def-01', 'dapr-authority', 'callee', 'dapr-grpc-timeout', '1S', 'content-type', 'application/xml']);

    const grpcAppError = toBinary(
      InternalInvokeResponseSchema,
      create(InternalInvokeResponseSchema, { status: { code: 5, message: 'no such thing' }, trailers: metadataOf([['t', ['1']]]) }),
    );
    const error = decodeInternalResponse(grpcAppError);
    assert.equal(error.status, 404);
    assert.deepEqual(JSON.parse(Buffer.from(error.body).toString()), { code: 5, message: 'no such thing', details: [] });
    const grpcAppOk = toBinary(InternalInvokeResponseSchema, create(InternalInvokeResponseSchema, { status: { code: 0 }, message: { data: create(AnySchema, { value: Buffer.from('ok') }), contentType: 'text/plain' } }));
    const ok = decodeInternalResponse(grpcAppOk);
    assert.equal(ok.status, 200);
    assert.equal(Buffer.from(ok.body).toString(), 'ok');
    const negative = toBinary(InternalInvokeResponseSchema, create(InternalInvokeResponseSchema, { status: { code: -3 } }));
    assert.equal(decodeInternalResponse(negative).status, 500);
    assert.equal(fromBinary(InternalInvokeResponseSchema, negative).status?.code, -3);
  });

  it('rejects truncated and malformed bytes with a WireError', () => {
    const good = encodeInternalRequest(requests[0]!);
    for (const cut of [1, 5, good.length - 1]) {
      assert.throws(() => decodeInternalRequest(good.subarray(0, cut)), WireError);
    }
    assert.throws(() => decodeInternalRequest(Buffer.from([0x0f])), WireError);
    assert.throws(() => decodeInternalResponse(Buffer.from([0x0a, 0x7f])), WireError);
  });
});
