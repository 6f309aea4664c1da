// Finding one character in a string. AssemblyScript's indexOf takes a string to search for and calls a general
// comparison at every position; the built-ins look for single characters on every request.

/** Index of the first UTF-16 code unit `code` in `text`, or -1. */
export function indexOfChar(text: string, code: i32): i32 {
  const chars = changetype<usize>(text);
  const length = text.length;
  for (let i = 0; i < length; i++) {
    if (<i32>load<u16>(chars + (<usize>i << 1)) == code) return i;
  }
  return -1;
}

/** Index of the last UTF-16 code unit `code` in `text`, or -1. */
export function lastIndexOfChar(text: string, code: i32): i32 {
  const chars = changetype<usize>(text);
  for (let i = text.length - 1; i >= 0; i--) {
    if (<i32>load<u16>(chars + (<usize>i << 1)) == code) return i;
  }
  return -1;
}
