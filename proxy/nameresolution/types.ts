// The contract every name resolver fulfils: where does the sidecar of app id X in namespace Y listen for
// sidecar-to-sidecar gRPC?

/** Internal gRPC endpoint of a sidecar. `host` is an IP address or a host name, never bracketed. */
export interface AppAddress {
  host: string;
  port: number;
}

/** What a sidecar advertises about itself. An empty namespace means `default`. */
export interface SelfRegistration {
  appId: string;
  namespace: string;
  host: string;
  port: number;
}

export interface NameResolver {
  /** 'local' | 'static' | 'mdns' */
  readonly kind: string;
  register(self: SelfRegistration): Promise<void>;
  /** One of the app's live sidecars, spread over replicas; null when the app id is unknown. */
  resolve(appId: string, namespace: string): Promise<AppAddress | null>;
  /** Every live sidecar of the app; empty when the app id is unknown. */
  resolveAll(appId: string, namespace: string): Promise<readonly AppAddress[]>;
  close(): Promise<void>;
}

/** `spec.nameResolution` of a Dapr Configuration resource. */
export interface NameResolutionSpec {
  component?: string;
  version?: string;
  /** A mapping whose keys depend on the component; checked when the resolver is created. */
  configuration?: unknown;
}
