// The secrets building block behind both API fronts: store lookup, scoping and daprd's error mapping.

import type { ComponentSet } from '../../components/registry.js';
import type { Secret, SecretMetadata, SecretStore } from '../../components/secretstores/secretstore.js';
import { secretErrors } from './errors.js';
import type { SecretScopes } from './scopes.js';

export class SecretsApi {
  constructor(
    private readonly components: ComponentSet,
    private readonly scopes: SecretScopes,
  ) {}

  async get(storeName: string, key: string, metadata: SecretMetadata): Promise<Secret> {
    const store = this.storeNamed(storeName);
    if (!this.scopes.allows(storeName, key)) throw secretErrors.permissionDenied(key, storeName);
    try {
      return await store.getSecret(key, metadata);
    } catch (err) {
      throw secretErrors.get(key, storeName, (err as Error).message);
    }
  }

  /** Every secret of the store the app may read; the others are left out, not reported. */
  async bulk(storeName: string, metadata: SecretMetadata): Promise<Record<string, Secret>> {
    const store = this.storeNamed(storeName);
    let all: Record<string, Secret>;
    try {
      all = await store.bulkGetSecret(metadata);
    } catch (err) {
      throw secretErrors.bulkGet(storeName, (err as Error).message);
    }
    return Object.fromEntries(Object.entries(all).filter(([name]) => this.scopes.allows(storeName, name)));
  }

  private storeNamed(storeName: string): SecretStore {
    const store = this.components.get('secretstores', storeName);
    if (store !== undefined) return store;
    if (this.components.ofKind('secretstores').length === 0) throw secretErrors.notConfigured();
    throw secretErrors.storeNotFound(storeName);
  }
}
