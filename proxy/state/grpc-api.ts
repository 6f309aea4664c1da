import { create } from '@bufbuild/protobuf';
import { EmptySchema } from '@bufbuild/protobuf/wkt';
import {
  StateOptions_StateConcurrency,
  StateOptions_StateConsistency,
  type StateItem,
  type StateOptions as ProtoStateOptions,
} from '../../gen/proto/dapr/proto/common/v1/common_pb.js';
import {
  BulkStateItemSchema,
  DeleteBulkStateRequestSchema,
  DeleteStateRequestSchema,
  ExecuteStateTransactionRequestSchema,
  GetBulkStateRequestSchema,
  GetBulkStateResponseSchema,
  GetStateRequestSchema,
  GetStateResponseSchema,
  QueryStateItemSchema,
  QueryStateRequestSchema,
  QueryStateResponseSchema,
  SaveStateRequestSchema,
} from '../../gen/proto/dapr/proto/runtime/v1/state_pb.js';
import type { SetRequest, StateOptions, StateQuery, TransactionalOperation } from '../../components/state/store.js';
import type { GrpcApiServer } from '../grpc/api-server.js';
import { DaprError, GrpcStatus } from '../runtime/errors.js';
import { malformed, type StateApi } from './state-api.js';

/** The state methods of `dapr.proto.runtime.v1.Dapr`. Values travel as raw bytes, stored verbatim. */
export function registerStateGrpc(grpc: GrpcApiServer, api: StateApi): void {
  grpc.unary('getState', GetStateRequestSchema, GetStateResponseSchema, async (req) => {
    const found = await api.get(req.storeName, req.key, req.metadata, consistencyName(req.consistency));
    if (found === null) return create(GetStateResponseSchema);
    return create(GetStateResponseSchema, { data: found.data, etag: found.etag ?? '', metadata: { ...found.metadata } });
  });
  grpc.unary('getBulkState', GetBulkStateRequestSchema, GetBulkStateResponseSchema, async (req) => {
    const items = await api.bulkGet(req.storeName, req.keys, req.metadata, req.parallelism > 0 ? req.parallelism : undefined);
    return create(GetBulkStateResponseSchema, {
      items: items.map((item) =>
        create(BulkStateItemSchema, { key: item.key, data: item.data, etag: item.etag ?? '', error: item.error ?? '', metadata: { ...item.metadata } }),
      ),
    });
  });
  grpc.unary('saveState', SaveStateRequestSchema, EmptySchema, async (req) => {
    await api.save(req.storeName, req.states.map(setRequestOf));
    return create(EmptySchema);
  });
  grpc.unary('deleteState', DeleteStateRequestSchema, EmptySchema, async (req) => {
    await api.delete(req.storeName, [{ key: req.key, etag: etagOf(req.etag?.value), metadata: req.metadata, options: optionsOf(req.options) }]);
    return create(EmptySchema);
  });
  grpc.unary('deleteBulkState', DeleteBulkStateRequestSchema, EmptySchema, async (req) => {
    await api.delete(req.storeName, req.states.map(({ key, etag, metadata, options }) => ({ key, etag: etagOf(etag?.value), metadata, options: optionsOf(options) })));
    return create(EmptySchema);
  });
  grpc.unary('executeStateTransaction', ExecuteStateTransactionRequestSchema, EmptySchema, async (req) => {
    const operations = req.operations.map((op): TransactionalOperation => {
      if (op.request === undefined) throw malformed('every transaction operation needs a request');
      const request = setRequestOf(op.request);
      if (op.operationType === 'upsert') return { operation: 'upsert', request };
      if (op.operationType === 'delete') return { operation: 'delete', request: { key: request.key, etag: request.etag, metadata: request.metadata, options: request.options } };
      throw new DaprError('ERR_NOT_SUPPORTED_STATE_OPERATION', `operation type ${op.operationType} not supported`, 400, GrpcStatus.INVALID_ARGUMENT);
    });
    await api.transaction(req.storeName, operations, req.metadata);
    return create(EmptySchema);
  });
  grpc.unary('queryStateAlpha1', QueryStateRequestSchema, QueryStateResponseSchema, async (req) => {
    let query: StateQuery;
    try {
      query = JSON.parse(req.query) as StateQuery;
    } catch (err) {
      throw malformed(`failed to parse the query as JSON: ${(err as Error).message}`);
    }
    const response = await api.query(req.storeName, query, req.metadata);
    return create(QueryStateResponseSchema, {
      results: response.results.map((item) => create(QueryStateItemSchema, { key: item.key, data: item.data, etag: item.etag ?? '', error: item.error ?? '' })),
      token: response.token ?? '',
      metadata: { ...response.metadata },
    });
  });
}

function setRequestOf(item: StateItem): SetRequest {
  return { key: item.key, value: item.value, etag: etagOf(item.etag?.value), metadata: item.metadata, options: optionsOf(item.options) };
}

function etagOf(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function optionsOf(options: ProtoStateOptions | undefined): StateOptions | undefined {
  if (options === undefined) return undefined;
  return {
    concurrency:
      options.concurrency === StateOptions_StateConcurrency.CONCURRENCY_FIRST_WRITE
        ? 'first-write'
        : options.concurrency === StateOptions_StateConcurrency.CONCURRENCY_LAST_WRITE
          ? 'last-write'
          : undefined,
    consistency: consistencyName(options.consistency) as StateOptions['consistency'],
  };
}

function consistencyName(value: StateOptions_StateConsistency): string | undefined {
  if (value === StateOptions_StateConsistency.CONSISTENCY_EVENTUAL) return 'eventual';
  if (value === StateOptions_StateConsistency.CONSISTENCY_STRONG) return 'strong';
  return undefined;
}
