// Output-binding data over the HTTP API is the JSON encoding of the caller's `data` (see InvokeRequest.data), so a
// text the app sent arrives quoted. Components that store or send the bytes themselves take a JSON string's
// content, and any other JSON value as its JSON text.

export function unquotedData(data: Uint8Array): Uint8Array {
  // Only a JSON string starts with a quote: everything else is used as it is without parsing it.
  if (data.length < 2 || data[0] !== 0x22) return data;
  try {
    const value: unknown = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
    return typeof value === 'string' ? Buffer.from(value, 'utf8') : data;
  } catch {
    return data;
  }
}
