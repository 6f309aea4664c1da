// Reads the --resources-path directories: every *.yaml / *.yml file, in name order, split into documents, keeping
// the resource kinds the sidecar understands and dropping those scoped to other apps or namespaces.

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger, type Logger } from '../runtime/logger.js';
import { parseComponent, type Component } from './component.js';
import { ResourceError } from './errors.js';
import { checkPolicyReferences, parseResiliency, type Resiliency } from './resiliency.js';
import { isForThisSidecar, readHeader, type LoadContext, type ResourceHeader, type ResourceMeta } from './resource.js';
import { parseDocuments, readText } from './yaml-file.js';

/** A resource kept as written (header keys in canonical spelling) for the code that owns its kind. */
export interface RawResource extends ResourceHeader {
  document: Record<string, unknown>;
}

export interface LoadedResources {
  components: Component[];
  resiliency: Resiliency[];
  /** `Subscription`, dapr.io/v1alpha1 or v2alpha1. */
  subscriptions: RawResource[];
  httpEndpoints: RawResource[];
}

type Role = 'component' | 'resiliency' | 'subscription' | 'httpEndpoint';

const ROLES: ReadonlyMap<string, Role> = new Map([
  ['dapr.io/v1alpha1 Component', 'component'],
  ['dapr.io/v1alpha1 Resiliency', 'resiliency'],
  ['dapr.io/v1alpha1 Subscription', 'subscription'],
  ['dapr.io/v2alpha1 Subscription', 'subscription'],
  ['dapr.io/v1alpha1 HTTPEndpoint', 'httpEndpoint'],
]);

export async function loadResources(
  paths: readonly string[],
  ctx: LoadContext,
  logger: Logger = createLogger('resources'),
): Promise<LoadedResources> {
  const loaded: LoadedResources = { components: [], resiliency: [], subscriptions: [], httpEndpoints: [] };
  const definedIn = new Map<string, string>();
  for (const dir of paths) {
    for (const file of await yamlFiles(dir)) {
      for (const { index, value } of parseDocuments(await readText(file), file)) {
        const { header, document, fields } = readHeader(value, file, index);
        const role = ROLES.get(`${header.apiVersion} ${header.kind}`);
        if (role === undefined) {
          logger.debug(`${file}: ignoring document ${index + 1} (kind "${header.kind}", apiVersion "${header.apiVersion}")`);
          continue;
        }
        if (!isForThisSidecar(header, ctx)) {
          logger.debug(`${file}: ${header.kind} "${header.name}" is scoped to other apps or namespaces`);
          continue;
        }
        const meta: ResourceMeta = { file, name: header.name, namespace: header.namespace, scopes: header.scopes };
        switch (role) {
          case 'component':
            loaded.components.push(parseComponent(document, meta, fields, ctx));
            break;
          case 'resiliency':
            loaded.resiliency.push(parseResiliency(document, meta, fields));
            break;
          case 'subscription':
            loaded.subscriptions.push({ ...header, document });
            break;
          case 'httpEndpoint':
            loaded.httpEndpoints.push({ ...header, document });
            break;
        }
        if (header.name !== '') {
          const key = `${header.kind}/${header.name}`;
          const earlier = definedIn.get(key);
          if (earlier !== undefined) fields.fail(`duplicate name: also defined in ${earlier}`);
          definedIn.set(key, file);
        }
      }
    }
  }
  checkPolicyReferences(loaded.resiliency);
  return loaded;
}

async function yamlFiles(dir: string): Promise<string[]> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ResourceError(dir, '', missing ? 'resources path does not exist' : `cannot read resources path: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!isDirectory) throw new ResourceError(dir, '', 'resources path is not a directory');
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && /\.ya?ml$/i.test(entry.name))
    .map((entry) => entry.name)
    .sort()
    .map((name) => join(dir, name));
}
