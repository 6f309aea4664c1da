import { freePorts } from './ports.js';
import { probeUntil } from './http-probe.js';
import type { ManagedProcess, ProcessGroup } from './processes.js';

export interface SidecarLaunch {
  /** The sidecar's CLI entry (daprd-compatible flags). */
  readonly cliPath: string;
  /** Working directory: the repository root. */
  readonly cwd: string;
  readonly appId: string;
  readonly appPort?: number;
  /** Shared by all sidecars of one run so they find each other. */
  readonly registryDir: string;
  readonly cpus: string | undefined;
  /** Folder of component YAML files (--resources-path); none when omitted. */
  readonly resourcesPath?: string;
  /** Configuration file (--config); the defaults when omitted. */
  readonly configPath?: string;
}

export interface Sidecar {
  readonly appId: string;
  readonly process: ManagedProcess;
  readonly httpPort: number;
}

const readyDeadlineMs = 20_000;

export async function startSidecar(group: ProcessGroup, launch: SidecarLaunch): Promise<Sidecar> {
  const [httpPort, grpcPort, internalGrpcPort, metricsPort] = (await freePorts(4)) as [number, number, number, number];
  const args = [
    launch.cliPath,
    '--app-id', launch.appId,
    '--dapr-http-port', String(httpPort),
    '--dapr-grpc-port', String(grpcPort),
    '--dapr-internal-grpc-port', String(internalGrpcPort),
    '--metrics-port', String(metricsPort),
    '--log-level', 'warn',
  ];
  if (launch.appPort !== undefined) args.push('--app-port', String(launch.appPort));
  if (launch.resourcesPath !== undefined) args.push('--resources-path', launch.resourcesPath);
  if (launch.configPath !== undefined) args.push('--config', launch.configPath);
  const sidecar = group.launch({
    name: `sidecar ${launch.appId}`,
    command: process.execPath,
    args,
    cwd: launch.cwd,
    env: { ...process.env, PILLION_REGISTRY_DIR: launch.registryDir },
    cpus: launch.cpus,
  });
  // A sidecar that exits during start-up fails guard() at once; the probing must not go on behind it.
  const exited = new AbortController();
  void sidecar.exited.then(() => exited.abort());
  await group.guard(
    probeUntil(`http://127.0.0.1:${httpPort}/v1.0/healthz`, {}, (res) => res.status === 204, readyDeadlineMs, exited.signal),
  );
  return { appId: launch.appId, process: sidecar, httpPort };
}
