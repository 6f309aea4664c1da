import type { BulkGetItem, Concurrency, Consistency, DeleteRequest, SetRequest, StateMetadata, StateQuery, TransactionalOperation } from '../../components/state/store.js';
import { appendMetadataHeaders } from '../http/header-safety.js';
import { answer } from '../http/reply.js';
import type { Router } from '../http/router.js';
import { DaprError, GrpcStatus } from '../runtime/errors.js';
import { fieldsOf, goJson, optionalString, parseBody, stringMap } from '../http/json-body.js';
import { malformed, type StateApi } from './state-api.js';

const JSON_TYPE = ['content-type', 'application/json'];

/** `/v1.0/state/...` and the alpha query route, with daprd's lenient body decoding and status codes. */
export function registerStateRoutes(router: Router, api: StateApi): void {
  router.add(['POST', 'PUT'], '/v1.0/state/:store/bulk', (req, reply) =>
    answer(reply, async () => {
      const body = fieldsOf(parseBody(req.body), 'bulk get request');
      const keys = body.keys ?? [];
      if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw malformed('keys must be an array of strings');
      const metadata = { ...req.queryMetadata(), ...stringMap(body.metadata, 'metadata') };
      const parallelism = typeof body.parallelism === 'number' ? body.parallelism : undefined;
      const items = await api.bulkGet(req.params[0]!, keys as string[], metadata, parallelism);
      reply.send(200, JSON_TYPE, `[${items.map(bulkItemJson).join(',')}]`);
    }),
  );
  router.add(['POST', 'PUT'], '/v1.0/state/:store/transaction', (req, reply) =>
    answer(reply, async () => {
      const body = fieldsOf(parseBody(req.body), 'transaction request');
      const operations = arrayOf(body.operations, 'operations').map((raw, i) => operationOf(raw, i));
      await api.transaction(req.params[0]!, operations, { ...req.queryMetadata(), ...stringMap(body.metadata, 'metadata') });
      reply.noContent();
    }),
  );
  router.add(['POST', 'PUT'], '/v1.0/state/:store', (req, reply) =>
    answer(reply, async () => {
      const common = req.queryMetadata();
      const items = arrayOf(parseBody(req.body), 'state request').map((raw, i) => setRequestOf(raw, `states[${i}]`, common));
      await api.save(req.params[0]!, items);
      reply.noContent();
    }),
  );
  router.add(['GET'], '/v1.0/state/:store/:key', (req, reply) =>
    answer(reply, async () => {
      const found = await api.get(req.params[0]!, req.params[1]!, req.queryMetadata(), req.queryParam('consistency'));
      if (found === null) {
        reply.noContent();
        return;
      }
      const headers = [...JSON_TYPE];
      if (found.etag !== undefined) headers.push('etag', found.etag);
      appendMetadataHeaders(headers, found.metadata);
      reply.send(200, headers, found.data);
    }),
  );
  router.add(['DELETE'], '/v1.0/state/:store/:key', (req, reply) =>
    answer(reply, async () => {
      const concurrency = req.queryParam('concurrency');
      const consistency = req.queryParam('consistency');
      const request: DeleteRequest = {
        key: req.params[1]!,
        etag: req.header('if-match'),
        metadata: req.queryMetadata(),
        options: { concurrency: concurrency as Concurrency | undefined, consistency: consistency as Consistency | undefined },
      };
      await api.delete(req.params[0]!, [request]);
      reply.noContent();
    }),
  );
  router.add(['POST', 'PUT'], '/v1.0-alpha1/state/:store/query', (req, reply) =>
    answer(reply, async () => {
      const query = fieldsOf(parseBody(req.body), 'query') as StateQuery;
      const response = await api.query(req.params[0]!, queryOf(query), req.queryMetadata());
      const results = response.results.map((item) => {
        const fields = [`"key":${JSON.stringify(item.key)}`, `"data":${dataJson(item.data)}`];
        if (item.etag !== undefined) fields.push(`"etag":${JSON.stringify(item.etag)}`);
        if (item.error !== undefined && item.error !== '') fields.push(`"error":${JSON.stringify(item.error)}`);
        return `{${fields.join(',')}}`;
      });
      const extra = (response.token !== undefined && response.token !== '' ? `,"token":${JSON.stringify(response.token)}` : '') +
        (response.metadata !== undefined && Object.keys(response.metadata).length > 0 ? `,"metadata":${JSON.stringify(response.metadata)}` : '');
      reply.send(200, JSON_TYPE, `{"results":[${results.join(',')}]${extra}}`);
    }),
  );
}

function arrayOf(value: unknown, what: string): unknown[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) throw malformed(`${what} must be a JSON array`);
  return value;
}

/** HTTP state values are JSON: re-encoded as daprd does, so a string keeps its quotes. */
function setRequestOf(raw: unknown, what: string, common: StateMetadata): SetRequest {
  const item = fieldsOf(raw, what);
  const key = optionalString(item.key, `${what}.key`);
  if (key === undefined || key === '') throw malformed(`${what}.key is required`);
  const options = fieldsOf(item.options, `${what}.options`);
  const etag = optionalString(item.etag, `${what}.etag`);
  return {
    key,
    value: Buffer.from(goJson(item.value ?? null)),
    etag: etag === '' ? undefined : etag,
    metadata: { ...common, ...stringMap(item.metadata, `${what}.metadata`) },
    options: {
      // Checked against the allowed values by StateApi, which serves the gRPC front too.
      concurrency: optionalString(options.concurrency, `${what}.options.concurrency`) as Concurrency | undefined,
      consistency: optionalString(options.consistency, `${what}.options.consistency`) as Consistency | undefined,
    },
  };
}

function operationOf(raw: unknown, index: number): TransactionalOperation {
  const op = fieldsOf(raw, `operations[${index}]`);
  const kind = optionalString(op.operation, `operations[${index}].operation`);
  const request = setRequestOf(op.request, `operations[${index}].request`, {});
  if (kind === 'upsert') return { operation: 'upsert', request };
  if (kind === 'delete') {
    const { value: _value, ...rest } = request;
    return { operation: 'delete', request: rest };
  }
  throw new DaprError('ERR_NOT_SUPPORTED_STATE_OPERATION', `operation type ${kind} not supported`, 400, GrpcStatus.INVALID_ARGUMENT);
}

function queryOf(query: StateQuery): StateQuery {
  const fields = fieldsOf(query, 'query');
  return {
    filter: fields.filter as StateQuery['filter'],
    sort: fields.sort as StateQuery['sort'],
    page: fields.page === undefined || fields.page === null ? undefined : (fieldsOf(fields.page, 'query.page') as StateQuery['page']),
  };
}

/** Stored bytes inside a JSON answer: as they are when they are JSON, else as a JSON string. */
function dataJson(data: Uint8Array): string {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  try {
    JSON.parse(text);
    return text;
  } catch {
    return JSON.stringify(text);
  }
}

function bulkItemJson(item: BulkGetItem): string {
  const fields = [`"key":${JSON.stringify(item.key)}`];
  if (item.data !== undefined) fields.push(`"data":${dataJson(item.data)}`);
  if (item.etag !== undefined) fields.push(`"etag":${JSON.stringify(item.etag)}`);
  if (item.metadata !== undefined && Object.keys(item.metadata).length > 0) fields.push(`"metadata":${JSON.stringify(item.metadata)}`);
  if (item.error !== undefined && item.error !== '') fields.push(`"error":${JSON.stringify(item.error)}`);
  return `{${fields.join(',')}}`;
}

