// Headers that describe one connection rather than the message, plus those the sidecar owns.
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
  'content-length',
  'dapr-api-token',
  'dapr-caller-app-id',
  'dapr-callee-app-id',
]);

export interface ForwardingContext {
  callerAppId: string;
  calleeAppId: string;
}

/**
 * The end-to-end headers of an API request plus the ones daprd adds on the way to the callee app: the caller and
 * callee ids and the original host. Unlike daprd, no `X-Forwarded-For`: the client is the local app, and its address
 * would cost a `getpeername` call on every request.
 */
export function invocationHeaders(incoming: readonly string[], ctx: ForwardingContext): string[] {
  const out: string[] = [];
  let host = '';
  for (let i = 0; i < incoming.length; i += 2) {
    const name = incoming[i]!;
    if (name === 'host') host = incoming[i + 1]!;
    if (NOT_FORWARDED.has(name)) continue;
    out.push(name, incoming[i + 1]!);
  }
  out.push('dapr-caller-app-id', ctx.callerAppId, 'dapr-callee-app-id', ctx.calleeAppId);
  if (host !== '') out.push('x-forwarded-host', host, 'forwarded', `host=${host}`);
  return out;
}
