// `secretstores.kubernetes`: the Secrets of a Kubernetes namespace, read through the API server. A Secret's `data`
// keys are its key/value pairs. Like daprd, init only loads the kubeconfig; the API server is first contacted by the
// first request, so a sidecar can start while the cluster is briefly unreachable.

import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ApiException, CoreV1Api, KubeConfig, V1Secret } from '@kubernetes/client-node';
import { stringProperty } from '../metadata.js';
import { registerComponent, type ComponentMetadata } from '../registry.js';
import {
  SecretNotFoundError,
  SecretStoreFeature,
  secretStoreCapabilities,
  type Secret,
  type SecretMetadata,
  type SecretStore,
} from './secretstore.js';

export interface KubernetesSettings {
  /** Absolute path of the kubeconfig; undefined: `KUBECONFIG`, then `~/.kube/config`, then the in-cluster account. */
  kubeconfigPath: string | undefined;
  /** Where secrets are read unless a request names its own `namespace`. */
  defaultNamespace: string;
}

export function parseKubernetesSettings(meta: ComponentMetadata, env: NodeJS.ProcessEnv = process.env): KubernetesSettings {
  const kubeconfigPath = stringProperty(meta, 'kubeconfigPath', '');
  return {
    kubeconfigPath: kubeconfigPath === '' ? undefined : resolve(kubeconfigPath),
    defaultNamespace: stringProperty(meta, 'defaultNamespace', env['NAMESPACE']?.trim() || 'default'),
  };
}

/**
 * Why a kubeconfig failed to load, without its content: it holds credentials, and the YAML parser's own message
 * quotes the text around the fault.
 */
function loadFailure(err: unknown): string {
  const error = err as Error & { code?: unknown; reason?: unknown; mark?: { line?: number } };
  if (typeof error.code === 'string') return error.code;
  if (error.name === 'YAMLException') {
    const line = error.mark?.line === undefined ? '' : ` at line ${error.mark.line + 1}`;
    return `invalid YAML${line}${typeof error.reason === 'string' ? `: ${error.reason}` : ''}`;
  }
  // The client's own checks name fields (`clusters[0].cluster.server is missing`), never their values.
  return error.message;
}

/** The client library costs about 75 MB of memory: it is loaded only once a Kubernetes secret store is declared. */
type KubernetesClient = typeof import('@kubernetes/client-node');
type ApiExceptionClass = new (...args: never[]) => ApiException<unknown>;

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Whether any of the places `loadFromDefault` reads exists. When none does, the client silently aims at
 * http://localhost:8080, where no cluster listens; daprd fails its init in that case, and so does this store.
 */
function defaultKubeconfigExists(): boolean {
  return (process.env['KUBECONFIG'] ?? '') !== '' || existsSync(join(homedir(), '.kube', 'config')) || existsSync(SERVICE_ACCOUNT_TOKEN);
}

function loadKubeConfig(client: KubernetesClient, path: string | undefined): KubeConfig {
  if (path === undefined && !defaultKubeconfigExists()) {
    throw new Error('no kubeconfig found: set metadata "kubeconfigPath" or KUBECONFIG, provide ~/.kube/config, or run inside a cluster');
  }
  const source = path === undefined ? 'the default kubeconfig' : `kubeconfig ${path}`;
  const config = new client.KubeConfig();
  try {
    if (path === undefined) config.loadFromDefault();
    else config.loadFromFile(path);
  } catch (err) {
    throw new Error(`${source} could not be loaded (${loadFailure(err)})`);
  }
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw new Error(`${source} has no current cluster: check its current-context`);
  // The client refuses plain http unless TLS checks are switched off; better to say so now than on every request.
  if (cluster.server.startsWith('http:') && cluster.skipTLSVerify !== true) {
    throw new Error(`${source}: cluster "${cluster.name}" uses an http:// server, which needs insecure-skip-tls-verify: true`);
  }
  return config;
}

/** `data` holds base64; a Secret without data is an empty secret, not a missing one. */
function decodeData(secret: V1Secret): Secret {
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]));
}

/**
 * A failed API call as an error naming what was asked and the HTTP status. The client's exception is not kept as
 * the cause: its message repeats the whole response body.
 */
function apiFailure(action: string, err: unknown, apiException: ApiExceptionClass): Error {
  if (err instanceof apiException) return new Error(`kubernetes API answered ${err.code} when ${action}`);
  const code = (err as { code?: unknown }).code;
  return new Error(`kubernetes API request failed when ${action} (${typeof code === 'string' ? code : (err as Error).name})`);
}

export class KubernetesSecretStore implements SecretStore {
  constructor(
    private readonly api: CoreV1Api,
    private readonly apiException: ApiExceptionClass,
    private readonly defaultNamespace: string,
  ) {}

  static async open(settings: KubernetesSettings): Promise<KubernetesSecretStore> {
    const client = await import('@kubernetes/client-node');
    const api = loadKubeConfig(client, settings.kubeconfigPath).makeApiClient(client.CoreV1Api);
    return new KubernetesSecretStore(api, client.ApiException, settings.defaultNamespace);
  }

  features(): readonly SecretStoreFeature[] {
    return [SecretStoreFeature.MULTIPLE_KEY_VALUES_PER_SECRET];
  }

  async getSecret(name: string, metadata: SecretMetadata): Promise<Secret> {
    const namespace = this.namespaceOf(metadata);
    try {
      return decodeData(await this.api.readNamespacedSecret({ name, namespace }));
    } catch (err) {
      if (err instanceof this.apiException && err.code === 404) throw new SecretNotFoundError(name);
      throw apiFailure(`reading secret "${name}" in namespace "${namespace}"`, err, this.apiException);
    }
  }

  async bulkGetSecret(metadata: SecretMetadata): Promise<Record<string, Secret>> {
    const namespace = this.namespaceOf(metadata);
    let secrets: V1Secret[];
    try {
      secrets = (await this.api.listNamespacedSecret({ namespace })).items;
    } catch (err) {
      throw apiFailure(`listing the secrets of namespace "${namespace}"`, err, this.apiException);
    }
    return Object.fromEntries(secrets.flatMap((secret) => (secret.metadata?.name ? [[secret.metadata.name, decodeData(secret)]] : [])));
  }

  private namespaceOf(metadata: SecretMetadata): string {
    return metadata['namespace']?.trim() || this.defaultNamespace;
  }
}

registerComponent({
  type: 'secretstores.kubernetes',
  versions: ['v1'],
  kind: 'secretstores',
  create: (meta) => KubernetesSecretStore.open(parseKubernetesSettings(meta)),
  capabilities: secretStoreCapabilities,
});
