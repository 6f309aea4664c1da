// `secretstores.local.env`: the sidecar's own environment variables as secrets, for development. Secret `N` is the
// variable `prefix + N`, one value per name. The environment is read on every call, so a variable set after start-up
// is seen.

import { stringProperty } from '../metadata.js';
import { registerComponent } from '../registry.js';
import { secretStoreCapabilities, type Secret, type SecretStore, type SecretStoreFeature } from './secretstore.js';

/**
 * The sidecar's own credentials and settings live in `APP_API_TOKEN` and `DAPR_*`; an app must never read them back
 * through the secrets API. Compared ignoring case, so that a differently cased twin cannot slip through either.
 */
function isExposable(variable: string): boolean {
  const upper = variable.toUpperCase();
  return upper !== 'APP_API_TOKEN' && !upper.startsWith('DAPR_');
}

export class LocalEnvSecretStore implements SecretStore {
  /** `prefix` limits the store to variables starting with it (case-sensitive, as on every non-Windows daprd). */
  constructor(private readonly prefix: string) {}

  features(): readonly SecretStoreFeature[] {
    return [];
  }

  /** An unset (or withheld) variable is an empty secret, not a missing one: daprd answers it with 200 too. */
  async getSecret(name: string): Promise<Secret> {
    const variable = this.prefix + name;
    const value = isExposable(variable) ? process.env[variable] : undefined;
    return { [name]: value ?? '' };
  }

  async bulkGetSecret(): Promise<Record<string, Secret>> {
    const secrets: [string, Secret][] = [];
    for (const [variable, value] of Object.entries(process.env)) {
      if (value === undefined || !variable.startsWith(this.prefix) || !isExposable(variable)) continue;
      const name = variable.slice(this.prefix.length);
      // A variable named exactly like the prefix would be a secret without a name, which no request can address.
      if (name !== '') secrets.push([name, { [name]: value }]);
    }
    return Object.fromEntries(secrets);
  }
}

registerComponent({
  type: 'secretstores.local.env',
  versions: ['v1'],
  kind: 'secretstores',
  create: (meta) => new LocalEnvSecretStore(stringProperty(meta, 'prefix', '')),
  capabilities: secretStoreCapabilities,
});
