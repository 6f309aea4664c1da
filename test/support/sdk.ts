// The official JS SDK's client against a running sidecar, once over each of its protocols, as an app would use it.

import { CommunicationProtocolEnum, DaprClient } from '@dapr/dapr';
import type { SidecarProcess } from './sidecar.js';

/** Runs `use` with a client on the sidecar's HTTP API, then with one on its gRPC API; each is stopped afterwards. */
export async function withEachSdkClient(
  sidecar: SidecarProcess,
  use: (client: DaprClient, protocol: CommunicationProtocolEnum) => Promise<void>,
): Promise<void> {
  for (const [protocol, port] of [
    [CommunicationProtocolEnum.HTTP, sidecar.ports.http],
    [CommunicationProtocolEnum.GRPC, sidecar.ports.grpc],
  ] as const) {
    const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(port), communicationProtocol: protocol, logger: { level: 0 as never } });
    try {
      await use(client, protocol);
    } finally {
      await client.stop();
    }
  }
}
