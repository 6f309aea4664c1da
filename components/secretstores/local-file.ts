// `secretstores.local.file`: secrets from a JSON file, for development. The file is read once, at init, as daprd
// does. By default the document is flattened into name/value secrets (`{"a": {"b": "x"}}` gives `a:b` = `x`); with
// `multiValued` each top-level name is a secret whose nested object is its key/value map. The file holds secrets,
// so no message ever quotes its content: only its path.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { booleanProperty, stringProperty } from '../metadata.js';
import { registerComponent, type ComponentMetadata } from '../registry.js';
import {
  SecretNotFoundError,
  SecretStoreFeature,
  secretStoreCapabilities,
  type Secret,
  type SecretStore,
} from './secretstore.js';

export interface LocalFileSettings {
  /** Absolute; a relative `secretsFile` is taken from the sidecar's working directory, like `dapr run` does. */
  path: string;
  nestedSeparator: string;
  multiValued: boolean;
}

export function parseLocalFileSettings(meta: ComponentMetadata): LocalFileSettings {
  const file = stringProperty(meta, 'secretsFile', '');
  if (file === '') throw new Error('metadata "secretsFile" is required: the path of a JSON file');
  return {
    path: resolve(file),
    nestedSeparator: stringProperty(meta, 'nestedSeparator', ':'),
    multiValued: booleanProperty(meta, 'multiValued', false),
  };
}

type JsonObject = { [key: string]: unknown };

const isContainer = (value: unknown): value is JsonObject | unknown[] => value !== null && typeof value === 'object';

/** A scalar as the text a secret holds: numbers and booleans as JSON writes them, null as nothing. */
function scalarText(value: unknown): string {
  return typeof value === 'string' ? value : value === null ? '' : String(value);
}

/** Every scalar inside `value` with its path, segments joined by `separator`; arrays are keyed by index. */
function* leaves(value: unknown, separator: string, path?: string): Generator<[string, string]> {
  if (!isContainer(value)) {
    yield [path ?? '', scalarText(value)];
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    yield* leaves(child, separator, path === undefined ? key : `${path}${separator}${key}`);
  }
}

/** Name/value mode: one secret per leaf, named by its flattened path. */
function flattenedSecrets(document: JsonObject, separator: string): Map<string, Secret> {
  return new Map([...leaves(document, separator)].map(([name, value]) => [name, { [name]: value }]));
}

/** Multi-valued mode: the top-level names are the secrets; below them one level of keys, deeper levels flattened. */
function multiValuedSecrets(document: JsonObject, separator: string): Map<string, Secret> {
  return new Map(
    Object.entries(document).map(([name, value]): [string, Secret] => [
      name,
      isContainer(value) ? Object.fromEntries(leaves(value, separator)) : { [name]: scalarText(value) },
    ]),
  );
}

async function readDocument(path: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`secretsFile ${path} could not be read (${(err as NodeJS.ErrnoException).code ?? 'read error'})`);
  }
  let document: unknown;
  try {
    // A byte-order mark, as some Windows editors write, is not JSON but carries no meaning either.
    document = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    // The parser's own message quotes the text around the fault, which could be a secret.
    throw new Error(`secretsFile ${path} is not valid JSON`);
  }
  if (!isContainer(document) || Array.isArray(document)) throw new Error(`secretsFile ${path} must hold a JSON object`);
  return document;
}

export class LocalFileSecretStore implements SecretStore {
  private constructor(
    private readonly secrets: ReadonlyMap<string, Secret>,
    private readonly multiValued: boolean,
  ) {}

  static async load(settings: LocalFileSettings): Promise<LocalFileSecretStore> {
    const document = await readDocument(settings.path);
    const secrets = settings.multiValued
      ? multiValuedSecrets(document, settings.nestedSeparator)
      : flattenedSecrets(document, settings.nestedSeparator);
    return new LocalFileSecretStore(secrets, settings.multiValued);
  }

  features(): readonly SecretStoreFeature[] {
    return this.multiValued ? [SecretStoreFeature.MULTIPLE_KEY_VALUES_PER_SECRET] : [];
  }

  /** In name/value mode an inner object (`connectionStrings` of `connectionStrings:sql`) is no secret either. */
  async getSecret(name: string): Promise<Secret> {
    const secret = this.secrets.get(name);
    if (secret === undefined) throw new SecretNotFoundError(name);
    return { ...secret };
  }

  async bulkGetSecret(): Promise<Record<string, Secret>> {
    return Object.fromEntries([...this.secrets].map(([name, secret]) => [name, { ...secret }]));
  }
}

registerComponent({
  type: 'secretstores.local.file',
  versions: ['v1'],
  kind: 'secretstores',
  create: (meta) => LocalFileSecretStore.load(parseLocalFileSettings(meta)),
  capabilities: secretStoreCapabilities,
});
