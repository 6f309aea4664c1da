// A reader for the one JSON shape the built-in middleware are configured with: an object whose values are
// strings, e.g. the component metadata `{"rule": "^/v1.0/.*$"}` or routeralias's `routes` map. A full JSON
// library would pull in far more code than this needs. Numbers, true, false and null are accepted as values
// and kept as their literal text, as YAML metadata such as `value: 10` may reach the host unquoted; nested
// objects and arrays are refused.
import { hexValue } from "./hex";

/** The members of a JSON object of strings, in document order. */
export class StringObject {
  readonly names: string[] = new Array<string>(0);
  readonly values: string[] = new Array<string>(0);

  get size(): i32 {
    return this.names.length;
  }

  /**
   * The value of `name` compared ignoring case, as component metadata names are matched; the last one wins on
   * duplicates, as in JSON.parse. Null when absent.
   */
  getIgnoreCase(name: string): string | null {
    const wanted = name.toLowerCase();
    for (let i = this.names.length - 1; i >= 0; i--) {
      if (this.names[i].toLowerCase() == wanted) return this.values[i];
    }
    return null;
  }
}

/** Either the parsed object or, when the text is not a JSON object of strings, what is wrong with it. */
export class StringObjectResult {
  constructor(readonly object: StringObject, readonly error: string | null) {}
}

/** Parses `text` as a JSON object of strings. Empty or blank text is the empty object. */
export function parseStringObject(text: string): StringObjectResult {
  const reader = new Reader(text);
  const object = new StringObject();
  reader.skipSpace();
  if (reader.atEnd()) return new StringObjectResult(object, null);
  if (!reader.take(0x7b /* { */)) return reader.fail(object, "expected a JSON object");
  reader.skipSpace();
  if (!reader.take(0x7d /* } */)) {
    while (true) {
      reader.skipSpace();
      const name = reader.string();
      if (name == null) return reader.fail(object, "expected a quoted member name");
      reader.skipSpace();
      if (!reader.take(0x3a /* : */)) return reader.fail(object, "expected ':'");
      reader.skipSpace();
      const value = reader.value();
      if (value == null) return reader.fail(object, "expected a string value");
      object.names.push(name);
      object.values.push(value);
      reader.skipSpace();
      if (reader.take(0x2c /* , */)) continue;
      if (reader.take(0x7d /* } */)) break;
      return reader.fail(object, "expected ',' or '}'");
    }
  }
  reader.skipSpace();
  if (!reader.atEnd()) return reader.fail(object, "unexpected text after the object");
  return new StringObjectResult(object, null);
}

/** `text` as a JSON string literal, quotes included. */
export function quoteJson(text: string): string {
  let out = "\"";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x22) out += "\\\"";
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else if (c < 0x20) out += "\\u00" + hexDigit(c >> 4) + hexDigit(c & 15);
    else out += String.fromCharCode(c);
  }
  return out + "\"";
}

function hexDigit(value: i32): string {
  return String.fromCharCode(value < 10 ? 0x30 + value : 0x61 + value - 10);
}

class Reader {
  private pos: i32 = 0;

  constructor(private readonly text: string) {}

  atEnd(): bool {
    return this.pos >= this.text.length;
  }

  fail(object: StringObject, what: string): StringObjectResult {
    return new StringObjectResult(object, what + " at offset " + this.pos.toString());
  }

  skipSpace(): void {
    while (!this.atEnd()) {
      const c = this.text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.pos++;
    }
  }

  take(c: i32): bool {
    if (this.atEnd() || this.text.charCodeAt(this.pos) != c) return false;
    this.pos++;
    return true;
  }

  /** A string value, or a scalar literal kept as its text; null for anything else. */
  value(): string | null {
    if (!this.atEnd() && this.text.charCodeAt(this.pos) == 0x22) return this.string();
    const start = this.pos;
    while (!this.atEnd() && isLiteralChar(this.text.charCodeAt(this.pos))) this.pos++;
    const literal = this.text.substring(start, this.pos);
    if (literal == "true" || literal == "false" || literal == "null" || isNumber(literal)) return literal;
    this.pos = start;
    return null;
  }

  /** A quoted string with its escapes resolved; null (position at the fault) when malformed. */
  string(): string | null {
    if (!this.take(0x22)) return null;
    let out = "";
    let runStart = this.pos;
    while (!this.atEnd()) {
      const c = this.text.charCodeAt(this.pos);
      if (c == 0x22) {
        out += this.text.substring(runStart, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) return null;
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      out += this.text.substring(runStart, this.pos);
      this.pos++;
      const escaped = this.escape();
      if (escaped < 0) return null;
      out += String.fromCharCode(escaped);
      runStart = this.pos;
    }
    return null;
  }

  /** The UTF-16 unit an escape after the backslash stands for (surrogates arrive as two \u escapes), or -1. */
  private escape(): i32 {
    if (this.atEnd()) return -1;
    const c = this.text.charCodeAt(this.pos++);
    switch (c) {
      case 0x22: return 0x22;
      case 0x5c: return 0x5c;
      case 0x2f: return 0x2f;
      case 0x62: return 0x08;
      case 0x66: return 0x0c;
      case 0x6e: return 0x0a;
      case 0x72: return 0x0d;
      case 0x74: return 0x09;
      case 0x75: {
        if (this.pos + 4 > this.text.length) return -1;
        let unit: i32 = 0;
        for (let i = 0; i < 4; i++) {
          const digit = hexValue(this.text.charCodeAt(this.pos++));
          if (digit < 0) return -1;
          unit = (unit << 4) | digit;
        }
        return unit;
      }
      default: return -1;
    }
  }
}

function isLiteralChar(c: i32): bool {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x2b || c == 0x2e || c == 0x45;
}

/** Whether `text` is a number as JSON (or metadata such as `value: 10`) writes one. */
export function isNumber(text: string): bool {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2b || c == 0x2e || c == 0x65 || c == 0x45)) return false;
  }
  return text.length > 0 && !isNaN(parseFloat(text));
}
