// `kind: Component` (dapr.io/v1alpha1): a named, typed building-block instance and its metadata.

import { randomUUID } from 'node:crypto';
import { LEAF, normalizeKeys, type FieldReader, type Shape } from './fields.js';
import { HEADER_FIELDS, type LoadContext, type ResourceMeta } from './resource.js';

export interface SecretKeyRef {
  /** Secret name in the component's `auth.secretStore`. */
  name: string;
  /** Key inside that secret; daprd uses the secret name when it is not given. */
  key: string;
}

export interface MetadataItem {
  name: string;
  /** The literal (stringified) value, or the envRef'd variable's value; '' while a secretKeyRef is unresolved. */
  value: string;
  /** Left for the secret-resolution step, which runs once secret stores are initialised. */
  secretKeyRef?: SecretKeyRef;
}

export interface Component extends ResourceMeta {
  /** `<kind>.<name>`, e.g. `state.redis` or `middleware.http.uppercase`. */
  type: string;
  /** The building block: the part of `type` before the first dot. */
  kind: string;
  version: string;
  initTimeoutMs: number;
  ignoreErrors: boolean;
  metadata: MetadataItem[];
  /** Secret store that backs `secretKeyRef` items; '' when not set. */
  secretStore: string;
}

const DEFAULT_INIT_TIMEOUT_MS = 5000;
const TYPE_FORM = /^[^.\s]+\.\S+$/;

const componentShape: Shape = {
  fields: {
    ...HEADER_FIELDS,
    auth: { fields: { secretStore: LEAF } },
    spec: {
      fields: {
        type: LEAF,
        version: LEAF,
        initTimeout: LEAF,
        ignoreErrors: LEAF,
        metadata: {
          items: { fields: { name: LEAF, value: LEAF, secretKeyRef: { fields: { name: LEAF, key: LEAF } }, envRef: LEAF } },
        },
      },
    },
  },
};

export function parseComponent(
  raw: Record<string, unknown>,
  meta: ResourceMeta,
  fields: FieldReader,
  ctx: LoadContext,
): Component {
  if (meta.name === '') fields.fail('metadata.name is required');
  const document = normalizeKeys(raw, componentShape) as Record<string, unknown>;
  const spec = fields.mapping(document['spec'], 'spec');
  const type = fields.string(spec['type'], 'spec.type');
  if (type === '') fields.fail('spec.type is required');
  if (!TYPE_FORM.test(type)) fields.fail(`spec.type "${type}" must have the form <kind>.<name>`);
  const initTimeoutMs = fields.durationMs(spec['initTimeout'], 'spec.initTimeout', DEFAULT_INIT_TIMEOUT_MS);
  if (initTimeoutMs <= 0) fields.fail('spec.initTimeout must be positive');
  const items = fields.list(spec['metadata'], 'spec.metadata');
  return {
    ...meta,
    type,
    kind: type.slice(0, type.indexOf('.')),
    version: fields.string(spec['version'], 'spec.version') || 'v1',
    initTimeoutMs,
    ignoreErrors: fields.bool(spec['ignoreErrors'], 'spec.ignoreErrors'),
    metadata: items.map((item, i) => parseMetadataItem(item, `spec.metadata[${i}]`, fields, ctx)),
    secretStore: fields.string(fields.mapping(document['auth'], 'auth')['secretStore'], 'auth.secretStore'),
  };
}

function parseMetadataItem(raw: unknown, path: string, fields: FieldReader, ctx: LoadContext): MetadataItem {
  const item = fields.mapping(raw, path);
  const name = fields.string(item['name'], `${path}.name`);
  if (name === '') fields.fail(`${path}.name is required`);
  const hasValue = item['value'] !== undefined && item['value'] !== null;
  let value = hasValue ? stringifyValue(item['value']) : '';
  const envRef = fields.string(item['envRef'], `${path}.envRef`);
  if (!hasValue && envRef !== '') value = readEnvRef(envRef, `${path} "${name}"`, fields);
  const out: MetadataItem = { name, value: expandTemplates(value, `${path} "${name}"`, fields, ctx) };
  const ref = fields.mapping(item['secretKeyRef'], `${path}.secretKeyRef`);
  const secretName = fields.string(ref['name'], `${path}.secretKeyRef.name`);
  if (secretName !== '') out.secretKeyRef = { name: secretName, key: fields.string(ref['key'], `${path}.secretKeyRef.key`) || secretName };
  return out;
}

// daprd keeps a metadata value as raw JSON and unquotes it when it is a string: scalars read as their text,
// structured values as their JSON.
function stringifyValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

// The sidecar's own credentials must not leak into component metadata, so daprd refuses these variables; when
// DAPR_ENV_KEYS is set it is also an allow-list.
function readEnvRef(variable: string, where: string, fields: FieldReader): string {
  const upper = variable.toUpperCase();
  if (upper === 'APP_API_TOKEN' || upper.startsWith('DAPR_') || upper.includes(' ')) {
    fields.fail(`${where}: envRef may not read the environment variable ${variable}`);
  }
  const allowList = process.env['DAPR_ENV_KEYS'];
  if (allowList !== undefined && allowList !== '' && !allowList.split(' ').includes(upper)) {
    fields.fail(`${where}: envRef variable ${variable} is not listed in DAPR_ENV_KEYS`);
  }
  return process.env[variable] ?? '';
}

function expandTemplates(value: string, where: string, fields: FieldReader, ctx: LoadContext): string {
  if (!value.includes('{')) return value;
  let out = value.replace(/\{uuid\}/g, () => randomUUID());
  if (out.includes('{podName}')) {
    const podName = ctx.podName ?? process.env['POD_NAME'] ?? '';
    if (podName === '') fields.fail(`${where} uses {podName} but no pod name is set (POD_NAME)`);
    out = out.replaceAll('{podName}', podName);
  }
  // daprd expands {namespace} to "<namespace>.<appId>", which keeps consumer groups unique per app.
  return out.replaceAll('{namespace}', `${ctx.namespace}.${ctx.appId}`).replaceAll('{appID}', ctx.appId);
}
