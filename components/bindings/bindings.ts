// The bindings contract, after components-contrib's bindings.InputBinding and bindings.OutputBinding. One component
// may be either or both; the runtime decides which side it uses (the `direction` metadata, the app's subscription).

declare module '../registry.js' {
  interface ComponentKinds {
    bindings: Binding;
  }
}

export type BindingMetadata = Readonly<Record<string, string>>;

export interface InvokeRequest {
  operation: string;
  /**
   * Over HTTP, the JSON encoding of the request's `data` field (a JSON string arrives quoted, and components that
   * take text, such as localstorage, un-quote it); over gRPC, the bytes as sent.
   */
  data: Uint8Array;
  /** Request metadata; the runtime adds `traceparent` / `tracestate`. */
  metadata: BindingMetadata;
}

export interface InvokeResponse {
  /** Returned to the caller as the body (HTTP) or `data` (gRPC); empty is allowed. */
  data: Uint8Array;
  /** Returned as `metadata.<key>` headers (HTTP) or the `metadata` map (gRPC). */
  metadata: Record<string, string>;
}

/**
 * A failed invoke that still has response metadata to report (an HTTP call's status, say): the runtime answers with
 * the error and the metadata, as `metadata.*` headers over HTTP.
 */
export class BindingInvokeError extends Error {
  constructor(
    message: string,
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'BindingInvokeError';
  }
}

export interface OutputBinding {
  /** The operations `invoke` accepts, e.g. `create`, `get`, `delete`, `list`. */
  operations(): readonly string[];
  /**
   * Resolves with null when the operation has nothing to return (the HTTP API answers 204). Rejects on failure, with
   * a BindingInvokeError when the failure comes with response metadata.
   */
  invoke(req: InvokeRequest): Promise<InvokeResponse | null>;
}

export interface BindingEvent {
  data: Uint8Array;
  /** Delivered to the app as headers. */
  metadata: BindingMetadata;
}

/**
 * Delivers one event to the app. Resolves with the app's answer body once the app processed the event; rejects
 * when the app failed it (non-2xx) or could not be reached. The binding then retries, has the event delivered
 * again, or logs the failure, as its kind allows.
 */
export type BindingEventHandler = (event: BindingEvent) => Promise<Uint8Array>;

export interface ReadOptions {
  /** Most handler calls pending at once; a binding that reads from a broker stops taking messages at this count. */
  maxInFlight: number;
}

export interface Reading {
  /** Stops reading; events not yet processed are left to the source's redelivery where it has one. */
  close(): Promise<void>;
}

export interface InputBinding {
  /** Starts reading. Resolves once events are being read (a broker subscription is established). */
  read(handler: BindingEventHandler, options: ReadOptions): Promise<Reading>;
}

export interface Binding {
  input?: InputBinding;
  output?: OutputBinding;
  /** Stops reading and releases connections. */
  close?(): Promise<void>;
}

/** What the metadata API shows for a binding, as daprd names it. */
export function bindingCapabilities(binding: Binding): readonly string[] {
  const capabilities: string[] = [];
  if (binding.input !== undefined) capabilities.push('INPUT_BINDING');
  if (binding.output !== undefined) capabilities.push('OUTPUT_BINDING');
  return capabilities;
}
