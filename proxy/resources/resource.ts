// The part every Dapr resource shares (apiVersion, kind, metadata, scopes) and the rules that decide whether
// this sidecar loads a resource at all.

import { FieldReader, LEAF, normalizeKeys, type Shape } from './fields.js';
import { resourceLabel } from './errors.js';

/** Who is loading: decides scoping, namespace filtering and metadata templates. */
export interface LoadContext {
  appId: string;
  /** NAMESPACE, '' when unset. */
  namespace: string;
  /** Substituted for `{podName}`; defaults to the POD_NAME environment variable. */
  podName?: string;
}

export interface ResourceMeta {
  /** The file the resource came from, as reached through its --resources-path entry. */
  file: string;
  name: string;
  namespace: string;
  /** App ids allowed to load it; empty means every app. */
  scopes: string[];
}

export interface ResourceHeader extends ResourceMeta {
  apiVersion: string;
  kind: string;
}

export const HEADER_FIELDS = {
  apiVersion: LEAF,
  kind: LEAF,
  metadata: { fields: { name: LEAF, namespace: LEAF } },
  scopes: LEAF,
} as const satisfies Record<string, Shape>;

const headerShape: Shape = { fields: HEADER_FIELDS };

/** Reads the shared fields of a raw document; the returned document has canonical header keys. */
export function readHeader(
  raw: Record<string, unknown>,
  file: string,
  documentIndex: number,
): { header: ResourceHeader; document: Record<string, unknown>; fields: FieldReader } {
  const document = normalizeKeys(raw, headerShape) as Record<string, unknown>;
  let fields = new FieldReader(file, `document ${documentIndex + 1}`);
  const apiVersion = fields.string(document['apiVersion'], 'apiVersion');
  const kind = fields.string(document['kind'], 'kind');
  const metadata = fields.mapping(document['metadata'], 'metadata');
  const name = fields.string(metadata['name'], 'metadata.name');
  fields = new FieldReader(file, resourceLabel(kind === '' ? 'resource' : kind, name, documentIndex));
  const header: ResourceHeader = {
    file,
    apiVersion,
    kind,
    name,
    namespace: fields.string(metadata['namespace'], 'metadata.namespace'),
    scopes: fields.strings(document['scopes'], 'scopes'),
  };
  return { header, document, fields };
}

/** daprd's filter: scoped resources load only for listed apps, namespaced ones only in their namespace. */
export function isForThisSidecar(meta: ResourceMeta, ctx: LoadContext): boolean {
  if (meta.scopes.length > 0 && !meta.scopes.includes(ctx.appId)) return false;
  return ctx.namespace === '' || meta.namespace === '' || meta.namespace === ctx.namespace;
}
