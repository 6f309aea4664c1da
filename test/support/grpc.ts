// One unary call of `dapr.proto.runtime.v1.Dapr` with protobuf-es messages, resolving with the status instead of
// rejecting, so tests can assert on error codes as plainly as on answers.

import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type * as grpc from '@grpc/grpc-js';

export interface UnaryOutcome<O extends DescMessage> {
  code: number;
  details: string;
  response?: MessageShape<O>;
}

export function daprUnary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: string,
  input: I,
  output: O,
  request: MessageShape<I>,
): Promise<UnaryOutcome<O>> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `/dapr.proto.runtime.v1.Dapr/${method}`,
      (value: MessageShape<I>) => Buffer.from(toBinary(input, value)),
      (bytes: Buffer) => fromBinary(output, bytes),
      request,
      (err, response) => resolve({ code: err?.code ?? 0, details: err?.details ?? '', response: response as MessageShape<O> | undefined }),
    );
  });
}
