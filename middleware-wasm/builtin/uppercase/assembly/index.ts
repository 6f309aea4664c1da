// Dapr's middleware.http.uppercase: upper-cases the request body before the next handler sees it. Takes no
// configuration.
//
// ASCII bodies are converted byte by byte in place; anything else goes through a UTF-8 string, where
// AssemblyScript applies full Unicode case mapping (so "ß" becomes "SS", where Go's strings.ToUpper keeps it).
// Bytes that are not valid UTF-8 become U+FFFD, as they do in Go's strings.ToUpper.
import { decodeUtf8, enableFeatures, Feature, onRequest, proceed, Request, Response } from "../../../assembly";

export { handle_request, handle_response } from "../../../assembly";

// The body is rewritten, so the next handler must still find it: buffer it rather than stream it past.
enableFeatures(Feature.BufferRequest);

onRequest((request: Request, response: Response): i64 => {
  const body = request.body.read();
  if (body.length == 0) return proceed();
  if (upperCaseAscii(body)) {
    request.body.write(body);
  } else {
    request.body.writeText(decodeUtf8(body.dataStart, body.length).toUpperCase());
  }
  return proceed();
});

/** Upper-cases `bytes` in place if they are all ASCII; returns false (leaving them as they were) otherwise. */
function upperCaseAscii(bytes: Uint8Array): bool {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] >= 0x80) return false;
  }
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c >= 0x61 && c <= 0x7a) bytes[i] = c - 32;
  }
  return true;
}
