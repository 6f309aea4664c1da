// Header names and values that come from components or brokers (metadata) are data, not trusted protocol text: a
// CR or LF in one would let it forge headers, so only RFC 9110 tokens and visible-text values are written.

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export function isWritableHeader(name: string, value: string): boolean {
  return HEADER_NAME.test(name) && HEADER_VALUE.test(value);
}

const LINE_BREAK = /[\r\n\0]/;

/** A header a middleware set: any text (UTF-8 included, as http-wasm guests write it) short of a line break. */
export function isRewrittenHeaderSafe(name: string, value: string): boolean {
  return HEADER_NAME.test(name) && !LINE_BREAK.test(value);
}

/** Adds `metadata.<key>: <value>` pairs, daprd's way of returning component metadata over HTTP. */
export function appendMetadataHeaders(headers: string[], metadata: Readonly<Record<string, string>> | undefined): void {
  if (metadata === undefined) return;
  for (const [key, value] of Object.entries(metadata)) {
    const name = `metadata.${key}`;
    if (isWritableHeader(name, value)) headers.push(name, value);
  }
}
