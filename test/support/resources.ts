/** A metadata item's value: literal text, or a reference to a secret in the component's `auth.secretStore`. */
export type MetadataValue = string | { secretKeyRef: { name: string; key?: string } };

export interface ComponentSpec {
  name: string;
  type: string;
  metadata?: Record<string, MetadataValue>;
  scopes?: string[];
  /** `auth.secretStore`: the store `secretKeyRef` items read from. */
  secretStore?: string;
}

/** A multi-document resources file of Dapr `Component`s, as tests write into a `--resources-path` folder. */
export function componentYaml(...components: ComponentSpec[]): string {
  return components
    .map(({ name, type, metadata, scopes, secretStore }) => {
      const items = Object.entries(metadata ?? {}).map(([key, value]) => `  - name: ${key}\n${metadataValueYaml(value)}`);
      return (
        `apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: ${name}\n` +
        (secretStore === undefined ? '' : `auth:\n  secretStore: ${secretStore}\n`) +
        `spec:\n  type: ${type}\n  version: v1\n` +
        (items.length > 0 ? `  metadata:\n${items.join('')}` : '') +
        (scopes === undefined ? '' : `scopes: [${scopes.join(', ')}]\n`)
      );
    })
    .join('---\n');
}

function metadataValueYaml(value: MetadataValue): string {
  if (typeof value === 'string') return `    value: ${JSON.stringify(value)}\n`;
  const { name, key } = value.secretKeyRef;
  return `    secretKeyRef:\n      name: ${JSON.stringify(name)}\n` + (key === undefined ? '' : `      key: ${JSON.stringify(key)}\n`);
}

/**
 * A Resiliency resource retrying what `component` delivers to the app 2 times, 50 ms apart: failures retry in
 * milliseconds, not in the minutes of the default policies.
 */
export function quickInboundRetryYaml(component: string): string {
  return `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: inbound
spec:
  policies:
    retries:
      quick: {policy: constant, duration: 50ms, maxRetries: 2}
  targets:
    components:
      ${component}:
        inbound: {retry: quick}
`;
}

export interface PipelineHandler {
  name: string;
  type: string;
}

/** A Configuration with `spec.httpPipeline` (API requests) and `spec.appHttpPipeline` (calls to the app) chains. */
export function pipelineConfigYaml(pipelines: { api?: PipelineHandler[]; app?: PipelineHandler[] }): string {
  const chain = (key: string, handlers: PipelineHandler[] | undefined): string =>
    handlers === undefined
      ? ''
      : `  ${key}:\n    handlers:\n` + handlers.map(({ name, type }) => `    - name: ${name}\n      type: ${type}\n`).join('');
  return (
    'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: pipelines\nspec:\n' +
    chain('httpPipeline', pipelines.api) +
    chain('appHttpPipeline', pipelines.app)
  );
}
