import type * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { EmptySchema } from '@bufbuild/protobuf/wkt';
import {
  BulkPublishRequestSchema,
  BulkPublishResponseSchema,
  PublishEventRequestSchema,
  type BulkPublishRequest,
} from '../../gen/proto/dapr/proto/runtime/v1/pubsub_pb.js';
import type { GrpcApiServer } from '../grpc/api-server.js';
import { traceContextOf } from '../grpc/trace-context.js';
import { pubsubErrors } from './errors.js';
import type { PubSubPublisher } from './publisher.js';

/** The publish methods of `dapr.proto.runtime.v1.Dapr`. Events arrive as bytes with their content type. */
export function registerPubSubGrpc(grpc: GrpcApiServer, publisher: PubSubPublisher): void {
  grpc.unary('publishEvent', PublishEventRequestSchema, EmptySchema, async (req, call) => {
    await publisher.publish({
      pubsubName: req.pubsubName,
      topic: req.topic,
      body: req.data,
      contentType: req.dataContentType,
      metadata: req.metadata,
      ...traceContextOf(call.metadata),
    });
    return create(EmptySchema);
  });
  const bulkPublish = async (req: BulkPublishRequest, call: { metadata: grpc.Metadata }) => {
    const failed = await publisher.bulkPublish({
      pubsubName: req.pubsubName,
      topic: req.topic,
      entries: req.entries.map(({ entryId, event, contentType, metadata }) => ({ entryId, event, contentType, metadata })),
      metadata: req.metadata,
      ...traceContextOf(call.metadata),
    });
    // As daprd: any failed entry fails the call, and the status carries the first failure.
    if (failed.length > 0) throw pubsubErrors.publishMessage(req.topic, req.pubsubName, failed[0]!.error);
    return create(BulkPublishResponseSchema);
  };
  grpc.unary('bulkPublishEventAlpha1', BulkPublishRequestSchema, BulkPublishResponseSchema, bulkPublish);
  grpc.unary('bulkPublishEvent', BulkPublishRequestSchema, BulkPublishResponseSchema, bulkPublish);
}
