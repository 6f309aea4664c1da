import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

/** Writes <dir>/<name>.yaml, a Dapr Component resource, for a sidecar's --resources-path; answers the dir. */
export function writeComponentFile(dir: string, name: string, type: string, metadata: Readonly<Record<string, string>>): string {
  mkdirSync(dir, { recursive: true });
  const items = Object.entries(metadata).map(([key, value]) => ({ name: key, value }));
  const component = { apiVersion: 'dapr.io/v1alpha1', kind: 'Component', metadata: { name }, spec: { type, version: 'v1', metadata: items } };
  writeFileSync(join(dir, `${name}.yaml`), stringify(component));
  return dir;
}
