// The secret store contract, after components-contrib's secretstores.SecretStore: a secret is a name holding one
// or more key/value pairs. Scoping, error codes and secretKeyRef resolution belong to the runtime.

declare module '../registry.js' {
  interface ComponentKinds {
    secretstores: SecretStore;
  }
}

/** Request metadata (`metadata.*` query parameters), store-specific (e.g. `namespace` for Kubernetes). */
export type SecretMetadata = Readonly<Record<string, string>>;

/** One secret's key/value pairs. A store with one value per name answers `{ [name]: value }`. */
export type Secret = Record<string, string>;

export const SecretStoreFeature = {
  /** A secret may hold several keys (Kubernetes, a multi-valued local file). Reported as a capability. */
  MULTIPLE_KEY_VALUES_PER_SECRET: 'MULTIPLE_KEY_VALUES_PER_SECRET',
} as const;
export type SecretStoreFeature = (typeof SecretStoreFeature)[keyof typeof SecretStoreFeature];

/** The store has no secret of that name. Its message names the secret, never a value. */
export class SecretNotFoundError extends Error {
  constructor(readonly secretName: string) {
    super(`secret ${secretName} not found`);
    this.name = 'SecretNotFoundError';
  }
}

export interface SecretStore {
  features(): readonly SecretStoreFeature[];
  /** Rejects with SecretNotFoundError when there is no such secret, with another error when the store failed. */
  getSecret(name: string, metadata: SecretMetadata): Promise<Secret>;
  /** Every secret the store holds, by name. */
  bulkGetSecret(metadata: SecretMetadata): Promise<Record<string, Secret>>;
  close?(): Promise<void> | void;
}

/** The capability list the metadata API shows for a secret store. */
export function secretStoreCapabilities(store: SecretStore): readonly string[] {
  return store.features();
}
