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
  /** Address of the client that called the sidecar. */
  remoteAddress: string;
}

/**
 * The end-to-end headers of an API request plus the ones daprd adds on the way to the callee app
 * (caller/callee ids and the forwarding trail).
 */
export function invocationHeaders(incoming: readonly string[], ctx: ForwardingContext): string[] {
  const out: string[] = [];
  let host = '';
  let forwardedFor = '';
  for (let i = 0; i < incoming.length; i += 2) {
    const name = incoming[i]!;
    if (name === 'host') host = incoming[i + 1]!;
    if (name === 'x-forwarded-for') {
      forwardedFor = incoming[i + 1]!;
      continue;
    }
    if (NOT_FORWARDED.has(name)) continue;
    out.push(name, incoming[i + 1]!);
  }
  out.push('dapr-caller-app-id', ctx.callerAppId, 'dapr-callee-app-id', ctx.calleeAppId);
  if (ctx.remoteAddress !== '') {
    out.push('x-forwarded-for', forwardedFor === '' ? ctx.remoteAddress : `${forwardedFor}, ${ctx.remoteAddress}`);
    out.push('forwarded', host === '' ? `for=${ctx.remoteAddress}` : `for=${ctx.remoteAddress};host=${host}`);
  }
  if (host !== '') out.push('x-forwarded-host', host);
  return out;
}
