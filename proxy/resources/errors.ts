// Every problem found in a resource file surfaces as one error type whose message names the file, the resource
// (when known) and the reason, so a failed start-up points straight at the offending YAML.
export class ResourceError extends Error {
  constructor(
    readonly file: string,
    /** For example `component "statestore"`; '' when the problem is not tied to one resource. */
    readonly resource: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(resource === '' ? `${file}: ${reason}` : `${file}: ${resource}: ${reason}`, options);
    this.name = 'ResourceError';
  }
}

/** How a resource is named in messages: `component "statestore"`, or its position when it has no name yet. */
export function resourceLabel(kind: string, name: string, documentIndex: number): string {
  const noun = kind.toLowerCase();
  return name === '' ? `${noun} (document ${documentIndex + 1})` : `${noun} "${name}"`;
}
