// Public surface of resource loading.

export { ResourceError } from './errors.js';
export { parseGoDuration } from './duration.js';
export { parseQuantity } from './quantity.js';
export { FieldReader, normalizeKeys, LEAF, type Shape } from './fields.js';
export type { LoadContext, ResourceMeta, ResourceHeader } from './resource.js';
export type { Component, MetadataItem, SecretKeyRef } from './component.js';
export {
  appPolicy,
  componentInboundPolicy,
  retryDelay,
  type AppPolicy,
  type ActorPolicyRefs,
  type CircuitBreakerPolicy,
  type PolicyRefs,
  type Resiliency,
  type RetryPolicy,
} from './resiliency.js';
export { loadConfiguration, isFeatureEnabled, type Configuration } from './configuration.js';
export type {
  AccessControlSpec,
  ApiAccessRule,
  MetricSpec,
  PipelineSpec,
  SecretScope,
  TracingSpec,
} from './configuration.js';
export { loadResources, type LoadedResources, type RawResource } from './load.js';
