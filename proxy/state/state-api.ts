import type { ComponentSet } from '../../components/registry.js';
import {
  ETagInvalidError,
  ETagMismatchError,
  isQueryable,
  isTransactional,
  type BulkGetItem,
  type DeleteRequest,
  type GetResponse,
  type QueryResponse,
  type SetRequest,
  type StateMetadata,
  type StateQuery,
  type Store,
  type TransactionalOperation,
} from '../../components/state/store.js';
import { DaprError, errors, GrpcStatus, type GrpcStatusCode } from '../runtime/errors.js';
import { appKey, keyPrefixFor, storedKey } from './key-prefix.js';

interface BoundStore {
  store: Store;
  prefix: string;
}

function stateError(code: string, message: string, httpStatus = 500, grpcStatus: GrpcStatusCode = GrpcStatus.INTERNAL): DaprError {
  return new DaprError(code, message, httpStatus, grpcStatus);
}

/** A store failure as daprd reports it: an ETag mismatch is 409/Aborted, an invalid ETag 400/InvalidArgument. */
function storeFailure(code: string, err: unknown): DaprError {
  if (err instanceof DaprError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ETagMismatchError) return stateError(code, message, 409, GrpcStatus.ABORTED);
  if (err instanceof ETagInvalidError) return stateError(code, message, 400, GrpcStatus.INVALID_ARGUMENT);
  return stateError(code, message);
}

/**
 * The state building block between the API fronts and the stores: store lookup, key prefixing and Dapr's error
 * codes. Both the HTTP routes and the gRPC methods call it, so they cannot drift apart.
 */
export class StateApi {
  private readonly stores = new Map<string, BoundStore>();

  constructor(components: ComponentSet, ctx: { appId: string; namespace: string }) {
    for (const { component, instance } of components.ofKind('state')) {
      const setting = component.metadata.find((m) => m.name.toLowerCase() === 'keyprefix')?.value;
      this.stores.set(component.name, { store: instance, prefix: keyPrefixFor(setting, { ...ctx, storeName: component.name }) });
    }
  }

  async get(storeName: string, key: string, metadata: StateMetadata, consistency: string | undefined): Promise<GetResponse | null> {
    const { store, prefix } = this.bind(storeName);
    const options = { consistency: checkConsistency(consistency) };
    try {
      return await store.get({ key: storedKey(prefix, key), metadata, options });
    } catch (err) {
      throw storeFailure('ERR_STATE_GET', err);
    }
  }

  async bulkGet(storeName: string, keys: readonly string[], metadata: StateMetadata, parallelism: number | undefined): Promise<BulkGetItem[]> {
    const { store, prefix } = this.bind(storeName);
    const requests = keys.map((key) => ({ key: storedKey(prefix, key), metadata }));
    let items: BulkGetItem[];
    try {
      items = await store.bulkGet(requests, { parallelism });
    } catch (err) {
      throw storeFailure('ERR_STATE_BULK_GET', err);
    }
    for (const item of items) item.key = appKey(prefix, item.key);
    return items;
  }

  async save(storeName: string, items: readonly SetRequest[]): Promise<void> {
    const { store, prefix } = this.bind(storeName);
    if (items.length === 0) return;
    const requests = items.map((item) => ({ ...item, key: storedKey(prefix, item.key), options: checkOptions(item.options) }));
    try {
      if (requests.length === 1) await store.set(requests[0]!);
      else await store.bulkSet(requests);
    } catch (err) {
      throw storeFailure('ERR_STATE_SAVE', firstOf(err));
    }
  }

  async delete(storeName: string, items: readonly DeleteRequest[]): Promise<void> {
    const { store, prefix } = this.bind(storeName);
    if (items.length === 0) return;
    const requests = items.map((item) => ({ ...item, key: storedKey(prefix, item.key), options: checkOptions(item.options) }));
    try {
      if (requests.length === 1) await store.delete(requests[0]!);
      else await store.bulkDelete(requests);
    } catch (err) {
      throw storeFailure('ERR_STATE_DELETE', firstOf(err));
    }
  }

  async transaction(storeName: string, operations: readonly TransactionalOperation[], metadata: StateMetadata): Promise<void> {
    const { store, prefix } = this.bind(storeName);
    if (!isTransactional(store)) {
      throw stateError('ERR_STATE_STORE_NOT_SUPPORTED', `state store ${storeName} doesn't support transactions`, 500, GrpcStatus.UNIMPLEMENTED);
    }
    if (operations.length === 0) return;
    const prefixed = operations.map((op): TransactionalOperation => {
      const options = checkOptions(op.request.options);
      return op.operation === 'upsert'
        ? { operation: 'upsert', request: { ...op.request, key: storedKey(prefix, op.request.key), options } }
        : { operation: 'delete', request: { ...op.request, key: storedKey(prefix, op.request.key), options } };
    });
    try {
      await store.multi({ operations: prefixed, metadata });
    } catch (err) {
      // daprd reports every failure inside a transaction, an ETag mismatch included, as a plain 500.
      throw stateError('ERR_STATE_TRANSACTION', `error while executing state transaction: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async query(storeName: string, query: StateQuery, metadata: StateMetadata): Promise<QueryResponse> {
    const { store, prefix } = this.bind(storeName);
    if (!isQueryable(store)) {
      throw stateError('ERR_STATE_STORE_NOT_SUPPORTED', `state store ${storeName} doesn't support query`, 500, GrpcStatus.UNIMPLEMENTED);
    }
    let response: QueryResponse;
    try {
      response = await store.query({ query, keyPrefix: prefix, metadata });
    } catch (err) {
      throw stateError('ERR_STATE_QUERY', `failed query in state store ${storeName}: ${err instanceof Error ? err.message : String(err)}`);
    }
    for (const item of response.results) item.key = appKey(prefix, item.key);
    return response;
  }

  private bind(storeName: string): BoundStore {
    const bound = this.stores.get(storeName);
    if (bound !== undefined) return bound;
    if (this.stores.size === 0) {
      throw stateError('ERR_STATE_STORE_NOT_CONFIGURED', 'state store is not configured', 500, GrpcStatus.FAILED_PRECONDITION);
    }
    throw stateError('ERR_STATE_STORE_NOT_FOUND', `state store ${storeName} is not found`, 400, GrpcStatus.INVALID_ARGUMENT);
  }
}

/** bulkSet/bulkDelete report failures together; the caller's status comes from the first one. */
function firstOf(err: unknown): unknown {
  return err instanceof AggregateError && err.errors.length > 0 ? err.errors[0] : err;
}

export const malformed = errors.malformedRequest;

function checkConsistency(value: string | undefined): 'eventual' | 'strong' | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'eventual' || value === 'strong') return value;
  throw malformed(`invalid consistency value "${value}": must be eventual or strong`);
}

function checkOptions(options: SetRequest['options']): SetRequest['options'] {
  if (options === undefined) return undefined;
  const concurrency = options.concurrency as string | undefined;
  if (concurrency !== undefined && concurrency !== '' && concurrency !== 'first-write' && concurrency !== 'last-write') {
    throw malformed(`invalid concurrency value "${concurrency}": must be first-write or last-write`);
  }
  return {
    concurrency: concurrency === '' ? undefined : options.concurrency,
    consistency: checkConsistency(options.consistency),
  };
}
