// The publish errors of daprd's pub/sub API: codes, statuses and message wording as daprd 1.14 reports them.

import { DaprError, GrpcStatus } from '../runtime/errors.js';

const { FAILED_PRECONDITION, INTERNAL, INVALID_ARGUMENT } = GrpcStatus;

export const PUBLISH_MESSAGE_ERROR_CODE = 'ERR_PUBSUB_PUBLISH_MESSAGE';

export const pubsubErrors = {
  notConfigured: (pubsubName: string) =>
    new DaprError('ERR_PUBSUB_NOT_CONFIGURED', `pubsub ${pubsubName} is not configured`, 400, FAILED_PRECONDITION),
  nameEmpty: () => new DaprError('ERR_PUBSUB_EMPTY', 'pubsub name is empty', 404, INVALID_ARGUMENT),
  notFound: (pubsubName: string) => new DaprError('ERR_PUBSUB_NOT_FOUND', `pubsub ${pubsubName} is not found`, 404, INVALID_ARGUMENT),
  topicEmpty: (pubsubName: string) =>
    new DaprError('ERR_TOPIC_NAME_EMPTY', `topic is empty in pubsub ${pubsubName}`, 404, INVALID_ARGUMENT),
  requestMetadata: (reason: string) =>
    new DaprError('ERR_PUBSUB_REQUEST_METADATA', `failed deserializing metadata. Error: ${reason}`, 400, INVALID_ARGUMENT),
  cloudEventCreation: (reason: string) =>
    new DaprError('ERR_PUBSUB_CLOUD_EVENTS_SER', `cannot create cloudevent: ${reason}`, 500, INVALID_ARGUMENT),
  /** A bulk entry's event does not fit its content type. */
  marshalEnvelope: (topic: string, pubsubName: string, reason: string) =>
    new DaprError(
      'ERR_PUBSUB_EVENTS_SER',
      `error when marshalling cloud event envelope for topic ${topic} pubsub ${pubsubName}: ${reason}`,
      400,
      INVALID_ARGUMENT,
    ),
  /** A bulk entry without an entry id, or with one already used. */
  marshalEvents: (topic: string, pubsubName: string, reason: string) =>
    new DaprError('ERR_PUBSUB_EVENTS_SER', `error marshaling events to bytes for topic ${topic} pubsub ${pubsubName}. error: ${reason}`, 400, INVALID_ARGUMENT),
  /** A bulk request body that is not a list of entries. */
  unmarshalEvents: (topic: string, pubsubName: string, reason: string) =>
    new DaprError('ERR_PUBSUB_EVENTS_SER', `error when unmarshaling the request for topic ${topic} pubsub ${pubsubName}: ${reason}`, 400, INVALID_ARGUMENT),
  publishMessage: (topic: string, pubsubName: string, reason: string) =>
    new DaprError(PUBLISH_MESSAGE_ERROR_CODE, `error when publishing to topic ${topic} in pubsub ${pubsubName}: ${reason}`, 500, INTERNAL),
};
