export interface ComponentSpec {
  name: string;
  type: string;
  metadata?: Record<string, string>;
  scopes?: string[];
}

/** A multi-document resources file of Dapr `Component`s, as tests write into a `--resources-path` folder. */
export function componentYaml(...components: ComponentSpec[]): string {
  return components
    .map(({ name, type, metadata, scopes }) => {
      const items = Object.entries(metadata ?? {}).map(([key, value]) => `  - name: ${key}\n    value: ${JSON.stringify(value)}\n`);
      return (
        `apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: ${name}\nspec:\n  type: ${type}\n  version: v1\n` +
        (items.length > 0 ? `  metadata:\n${items.join('')}` : '') +
        (scopes === undefined ? '' : `scopes: [${scopes.join(', ')}]\n`)
      );
    })
    .join('---\n');
}
