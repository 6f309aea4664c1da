import { create } from '@bufbuild/protobuf';
import {
  GetBulkSecretRequestSchema,
  GetBulkSecretResponseSchema,
  GetSecretRequestSchema,
  GetSecretResponseSchema,
  SecretResponseSchema,
} from '../../gen/proto/dapr/proto/runtime/v1/secret_pb.js';
import type { GrpcApiServer } from '../grpc/api-server.js';
import type { SecretsApi } from './secrets-api.js';

/** `GetSecret` and `GetBulkSecret` of `dapr.proto.runtime.v1.Dapr`. */
export function registerSecretsGrpc(grpc: GrpcApiServer, api: SecretsApi): void {
  grpc.unary('getSecret', GetSecretRequestSchema, GetSecretResponseSchema, async (req) =>
    create(GetSecretResponseSchema, { data: await api.get(req.storeName, req.key, req.metadata) }),
  );
  grpc.unary('getBulkSecret', GetBulkSecretRequestSchema, GetBulkSecretResponseSchema, async (req) => {
    const all = await api.bulk(req.storeName, req.metadata);
    const data = Object.fromEntries(Object.entries(all).map(([name, secrets]) => [name, create(SecretResponseSchema, { secrets })]));
    return create(GetBulkSecretResponseSchema, { data });
  });
}
