import type { LogLevel } from './logger.js';

// Everything a sidecar needs to start, as parsed from daprd-compatible flags and environment variables.
export interface SidecarOptions {
  appId: string;
  /** 0 when the sidecar has no app channel. */
  appPort: number;
  appProtocol: 'http';
  appChannelAddress: string;
  /** Port numbers; 0 picks a free port. */
  daprHttpPort: number;
  daprGrpcPort: number;
  daprInternalGrpcPort: number;
  metricsPort: number;
  enableMetrics: boolean;
  /** Address the API listeners bind to. */
  listenAddress: string;
  resourcesPaths: string[];
  configPaths: string[];
  logLevel: LogLevel;
  /** -1 or 0: unlimited. */
  appMaxConcurrency: number;
  maxBodySizeBytes: number;
  /** Largest header block accepted, bytes. */
  readBufferSizeBytes: number;
  gracefulShutdownSeconds: number;
  /** NAMESPACE env var, '' when unset. */
  namespace: string;
  /** DAPR_HOST_IP or loopback: the address peers use to reach this sidecar's internal gRPC port. */
  hostAddress: string;
  /** DAPR_API_TOKEN, '' when unset. */
  apiToken: string;
  /** APP_API_TOKEN, '' when unset. */
  appApiToken: string;
  /** Flags given on the command line that are accepted for daprd compatibility but have no effect yet (logged at debug). */
  ignoredFlags?: string[];
}
