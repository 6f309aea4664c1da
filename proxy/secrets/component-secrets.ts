// secretKeyRef in component metadata, resolved at start-up from the component's `auth.secretStore`. Secret stores
// are initialised before every other component, so the store is live by the time a component needs it. Errors
// name the component (the registry adds it), the field, the store and the secret, never a value.

import type { ComponentSet } from '../../components/registry.js';
import { SecretNotFoundError, type Secret } from '../../components/secretstores/secretstore.js';
import type { Component } from '../resources/index.js';

export async function resolveComponentSecrets(component: Component, initialised: ComponentSet): Promise<Record<string, string>> {
  const resolved: Record<string, string> = {};
  const fetched = new Map<string, Promise<Secret>>();
  for (const item of component.metadata) {
    const ref = item.secretKeyRef;
    if (ref === undefined) continue;
    const field = `metadata "${item.name}"`;
    const storeName = component.secretStore;
    // daprd's default store is the built-in `kubernetes` one, which exists only in Kubernetes mode.
    if (storeName === '') throw new Error(`${field} takes its value from secret "${ref.name}" but the component names no auth.secretStore`);
    const store = initialised.get('secretstores', storeName);
    if (store === undefined) throw new Error(`${field}: secret store "${storeName}" (auth.secretStore) is not loaded`);
    let secret = fetched.get(ref.name);
    if (secret === undefined) {
      secret = store.getSecret(ref.name, {});
      fetched.set(ref.name, secret);
    }
    let values: Secret;
    try {
      values = await secret;
    } catch (err) {
      throw new Error(
        err instanceof SecretNotFoundError
          ? `${field}: secret "${ref.name}" not found in secret store "${storeName}"`
          : `${field}: reading secret "${ref.name}" from secret store "${storeName}" failed: ${(err as Error).message}`,
      );
    }
    if (!Object.hasOwn(values, ref.key)) throw new Error(`${field}: secret "${ref.name}" in secret store "${storeName}" has no key "${ref.key}"`);
    resolved[item.name] = values[ref.key]!;
  }
  return resolved;
}
