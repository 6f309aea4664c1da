// Configuration `spec.secrets.scopes`: which secrets of a store the app may read through the API, decided the
// way daprd decides it. Scoping guards the API only; secretKeyRef in component YAML reads the store directly.

import type { SecretScope } from '../resources/index.js';

export class SecretScopes {
  private readonly byStore = new Map<string, SecretScope>();

  constructor(scopes: readonly SecretScope[]) {
    for (const scope of scopes) this.byStore.set(scope.storeName, scope);
  }

  /**
   * A non-empty `allowedSecrets` is the whole answer; otherwise a name in `deniedSecrets` is refused, and the rest
   * follow `defaultAccess` (allow unless it says deny). A store without a scope allows everything.
   */
  allows(storeName: string, secretName: string): boolean {
    const scope = this.byStore.get(storeName);
    if (scope === undefined) return true;
    if (scope.allowedSecrets.length > 0) return scope.allowedSecrets.includes(secretName);
    if (scope.deniedSecrets.includes(secretName)) return false;
    return scope.defaultAccess.toLowerCase() !== 'deny';
  }
}
