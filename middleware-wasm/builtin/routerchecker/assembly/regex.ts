// A small regular-expression matcher: the stub runtime has no RegExp, and rules for request paths need little.
// Semantics follow Go's regexp (RE2), which Dapr's routerchecker uses, for the subset below; a pattern using
// anything else is refused when compiled rather than matched differently.
//
// Supported:
//   literal characters; `.` (any character but a newline);
//   classes `[abc]`, `[a-z0-9_]`, negated `[^/]`; a `]` first in the class and a `-` first or last are literal;
//   escapes `\d \D \w \W \s \S` (ASCII, as in RE2), `\t \n \r \f \v`, and `\` before any punctuation for the
//   character itself; `\d \w \s` also inside classes;
//   quantifiers `*`, `+`, `?` after a single item, optionally followed by `?` (lazy: irrelevant to whether a
//   text matches);
//   `^` as the first and `$` as the last character (start and end of the text).
// Refused: groups and alternation `( ) |`, counted repetition `{n,m}`, `^`/`$` elsewhere, other escapes
// (`\b`, `\p{...}`, `\x..`, ...), POSIX classes and nested `[` inside classes, flags.
//
// Matching simulates the pattern's automaton over all positions at once, so it takes time proportional to the
// text length times the pattern size whatever the pattern: no backtracking blow-up on hostile paths. The states
// are bits (one per item, plus the accepting state) and the items an ASCII character matches are looked up in a
// table built with the pattern, so a step over ASCII text costs a few word operations per live state.

enum Repeat { Once, Optional, Any, AtLeastOnce }

/** One pattern item: a set of characters (ranges of code points, maybe negated) and how often it may occur. */
class Item {
  /** Inclusive [low, high] code point pairs, flattened. */
  readonly ranges: i32[] = new Array<i32>(0);
  negated: bool = false;
  repeat: Repeat = Repeat.Once;

  addRange(low: i32, high: i32): void {
    this.ranges.push(low);
    this.ranges.push(high);
  }

  matches(c: i32): bool {
    let inside = false;
    for (let i = 0; i < this.ranges.length; i += 2) {
      if (c >= this.ranges[i] && c <= this.ranges[i + 1]) {
        inside = true;
        break;
      }
    }
    return inside != this.negated;
  }

  /** Whether the automaton may pass this item without consuming a character. */
  get skippable(): bool {
    return this.repeat == Repeat.Optional || this.repeat == Repeat.Any;
  }

  get repeats(): bool {
    return this.repeat == Repeat.Any || this.repeat == Repeat.AtLeastOnce;
  }
}

const ASCII: i32 = 128;

export class Regex {
  private readonly items: Item[] = new Array<Item>(0);
  private anchoredStart: bool = false;
  private anchoredEnd: bool = false;
  /** Why the pattern was refused, or null when it compiled. */
  error: string | null = null;
  /** 64-bit words per state set: state i is item i about to be matched, state items.length accepts. */
  private words: i32 = 0;
  /** The states a match begins in: the first item and those reachable past skippable items. */
  private entry: StaticArray<u64> = new StaticArray<u64>(0);
  /** Per item, the states a character it matches leads to: itself if it repeats, then what follows it. */
  private follow: StaticArray<u64> = new StaticArray<u64>(0);
  /** Per ASCII character, the items that match it. */
  private asciiMatches: StaticArray<u64> = new StaticArray<u64>(0);
  // State sets reused by every match, allocated with the pattern so matching allocates nothing.
  private current: StaticArray<u64> = new StaticArray<u64>(0);
  private next: StaticArray<u64> = new StaticArray<u64>(0);

  constructor(pattern: string) {
    new Parser(pattern, this).parse();
    if (this.error == null) this.buildTables();
  }

  /** Whether the pattern matches somewhere in `text` (everywhere between the anchors it has). */
  test(text: string): bool {
    const words = this.words;
    const final = this.items.length;
    const finalWord = final >>> 6;
    const finalBit: u64 = 1 << <u64>(final & 63);
    const length = text.length;
    const chars = changetype<usize>(text);
    let current = this.current;
    let next = this.next;
    clear(current, words);
    let pos = 0;
    while (true) {
      // Unanchored, a match may begin at any position: the entry states join at every step.
      if (pos == 0 || !this.anchoredStart) orInto(current, this.entry, 0, words);
      if ((unchecked(current[finalWord]) & finalBit) != 0 && (!this.anchoredEnd || pos == length)) return true;
      if (pos >= length) return false;
      let c = <i32>load<u16>(chars + (<usize>pos << 1));
      pos++;
      if ((c & 0xfc00) == 0xd800 && pos < length) {
        const low = <i32>load<u16>(chars + (<usize>pos << 1));
        if ((low & 0xfc00) == 0xdc00) {
          c = 0x10000 + ((c & 0x3ff) << 10) + (low & 0x3ff);
          pos++;
        }
      }
      clear(next, words);
      let alive = false;
      for (let w = 0; w < words; w++) {
        let matched = c < ASCII
          ? unchecked(current[w]) & unchecked(this.asciiMatches[c * words + w])
          : this.itemsMatching(unchecked(current[w]), w, c);
        if (matched != 0) alive = true;
        while (matched != 0) {
          const item = (w << 6) + <i32>ctz(matched);
          orInto(next, this.follow, item * words, words);
          matched &= matched - 1;
        }
      }
      if (!alive && this.anchoredStart) return false;
      const swap = current;
      current = next;
      next = swap;
    }
  }

  /** Of the states in `states` (word `w` of a set), the items that match `c`. */
  private itemsMatching(states: u64, w: i32, c: i32): u64 {
    let matched: u64 = 0;
    let rest = states;
    while (rest != 0) {
      const bit = ctz(rest);
      const item = (w << 6) + <i32>bit;
      if (item < this.items.length && this.items[item].matches(c)) matched |= <u64>1 << bit;
      rest &= rest - 1;
    }
    return matched;
  }

  private buildTables(): void {
    const count = this.items.length;
    const words = (count >>> 6) + 1;
    this.words = words;
    this.entry = new StaticArray<u64>(words);
    this.addClosure(this.entry, 0, 0);
    this.follow = new StaticArray<u64>(count * words);
    this.asciiMatches = new StaticArray<u64>(ASCII * words);
    for (let i = 0; i < count; i++) {
      const item = this.items[i];
      if (item.repeats) this.addClosure(this.follow, i * words, i);
      this.addClosure(this.follow, i * words, i + 1);
      for (let c = 0; c < ASCII; c++) {
        if (item.matches(c)) this.asciiMatches[c * words + (i >>> 6)] |= <u64>1 << <u64>(i & 63);
      }
    }
    this.current = new StaticArray<u64>(words);
    this.next = new StaticArray<u64>(words);
  }

  /** Adds state `state` and every state reachable from it without consuming a character to the set at `at`. */
  private addClosure(sets: StaticArray<u64>, at: i32, state: i32): void {
    let i = state;
    while (true) {
      sets[at + (i >>> 6)] |= <u64>1 << <u64>(i & 63);
      if (i == this.items.length || !this.items[i].skippable) return;
      i++;
    }
  }

  // Used by the parser only.
  push(item: Item): void {
    this.items.push(item);
  }

  lastItem(): Item {
    return this.items[this.items.length - 1];
  }

  setAnchors(start: bool, end: bool): void {
    this.anchoredStart = start;
    this.anchoredEnd = end;
  }
}

// @ts-ignore: decorator
@inline
function clear(set: StaticArray<u64>, words: i32): void {
  for (let w = 0; w < words; w++) unchecked(set[w] = 0);
}

/** ORs `words` words of `sets` from `at` into `target`. */
// @ts-ignore: decorator
@inline
function orInto(target: StaticArray<u64>, sets: StaticArray<u64>, at: i32, words: i32): void {
  for (let w = 0; w < words; w++) unchecked(target[w] |= unchecked(sets[at + w]));
}

class Parser {
  private pos: i32 = 0;
  /** What the last thing parsed was, which decides whether a quantifier may follow. */
  private last: Last = Last.Nothing;

  constructor(private readonly pattern: string, private readonly regex: Regex) {}

  parse(): void {
    let end = this.pattern.length;
    const start = this.pattern.startsWith("^");
    if (start) this.pos = 1;
    const anchoredEnd = end > this.pos && this.pattern.charCodeAt(end - 1) == 0x24 && !this.escapedAt(end - 1);
    if (anchoredEnd) end--;
    this.regex.setAnchors(start, anchoredEnd);
    while (this.pos < end && this.regex.error == null) this.step(end);
  }

  /** Whether the character at `index` is preceded by an odd number of backslashes. */
  private escapedAt(index: i32): bool {
    let slashes = 0;
    for (let i = index - 1; i >= 0 && this.pattern.charCodeAt(i) == 0x5c; i--) slashes++;
    return (slashes & 1) == 1;
  }

  private fail(what: string): void {
    this.regex.error = what + " at offset " + this.pos.toString() + " is not supported";
  }

  private step(end: i32): void {
    const c = this.pattern.codePointAt(this.pos);
    switch (c) {
      case 0x2a: // *
        this.quantify(Repeat.Any);
        return;
      case 0x2b: // +
        this.quantify(Repeat.AtLeastOnce);
        return;
      case 0x3f: // ?
        this.quantify(Repeat.Optional);
        return;
      case 0x28: case 0x29: case 0x7c: case 0x7b: case 0x7d: case 0x5e: case 0x24: // ( ) | { } ^ $
        this.fail("'" + String.fromCodePoint(c) + "'");
        return;
    }
    const item = new Item();
    if (c == 0x2e /* . */) {
      item.addRange(0x0a, 0x0a);
      item.negated = true;
      this.pos++;
    } else if (c == 0x5b /* [ */) {
      this.pos++;
      if (!this.parseClass(item, end)) return;
    } else if (c == 0x5c /* \ */) {
      this.pos++;
      if (!this.parseEscape(item, end, false)) return;
    } else {
      item.addRange(c, c);
      this.pos += c > 0xffff ? 2 : 1;
    }
    this.regex.push(item);
    this.last = Last.Item;
  }

  private quantify(repeat: Repeat): void {
    if (this.last == Last.Item) {
      this.regex.lastItem().repeat = repeat;
      this.last = Last.Quantifier;
    } else if (this.last == Last.Quantifier && repeat == Repeat.Optional) {
      // `x*?` is the lazy form: it changes which match is found, never whether one is.
      this.last = Last.Lazy;
    } else {
      this.fail(this.last == Last.Nothing ? "a quantifier without an item before it" : "a repeated quantifier");
      return;
    }
    this.pos++;
  }

  /** Parses a class after its `[`, up to and including its `]`. */
  private parseClass(item: Item, end: i32): bool {
    if (this.pos < end && this.pattern.charCodeAt(this.pos) == 0x5e /* ^ */) {
      item.negated = true;
      this.pos++;
    }
    let first = true;
    while (true) {
      if (this.pos >= end) {
        this.fail("an unterminated class");
        return false;
      }
      const c = this.pattern.codePointAt(this.pos);
      if (c == 0x5d /* ] */ && !first) {
        this.pos++;
        return true;
      }
      first = false;
      if (c == 0x5b /* [ */) {
        this.fail("'[' inside a class");
        return false;
      }
      let low: i32;
      if (c == 0x5c /* \ */) {
        this.pos++;
        const single = this.escapedChar(end);
        if (single < 0) {
          // \d, \w, \s add their ranges; anything else was refused.
          if (single == NOT_SUPPORTED || !this.parseEscape(item, end, true)) return false;
          continue;
        }
        low = single;
        this.pos++;
      } else {
        low = c;
        this.pos += c > 0xffff ? 2 : 1;
      }
      let high = low;
      const dash = this.pos < end && this.pattern.charCodeAt(this.pos) == 0x2d;
      const closesAfterDash = this.pos + 1 < end && this.pattern.charCodeAt(this.pos + 1) == 0x5d;
      if (dash && !closesAfterDash && this.pos + 1 < end) {
        this.pos++;
        const h = this.pattern.codePointAt(this.pos);
        if (h == 0x5c) {
          this.pos++;
          high = this.escapedChar(end);
          if (high < 0) {
            this.fail("a class range ending in a class escape");
            return false;
          }
          this.pos++;
        } else {
          high = h;
          this.pos += h > 0xffff ? 2 : 1;
        }
        if (high < low) {
          this.fail("a reversed class range");
          return false;
        }
      }
      item.addRange(low, high);
    }
  }

  /**
   * The single character an escape (at `pos`, after its backslash) stands for; CLASS_ESCAPE for \d \D \w \W
   * \s \S, NOT_SUPPORTED (after recording the error) for anything else. Does not advance.
   */
  private escapedChar(end: i32): i32 {
    if (this.pos >= end) {
      this.fail("a trailing backslash");
      return NOT_SUPPORTED;
    }
    const c = this.pattern.charCodeAt(this.pos);
    switch (c) {
      case 0x74: return 0x09; // \t
      case 0x6e: return 0x0a; // \n
      case 0x72: return 0x0d; // \r
      case 0x66: return 0x0c; // \f
      case 0x76: return 0x0b; // \v
      case 0x64: case 0x44: case 0x77: case 0x57: case 0x73: case 0x53: return CLASS_ESCAPE;
    }
    if (c < 0x80 && !isWordChar(c)) return c;
    this.fail("the escape '\\" + String.fromCharCode(c) + "'");
    return NOT_SUPPORTED;
  }

  /** Parses an escape at `pos` (after its backslash) into `item`; inside a class only the positive sets. */
  private parseEscape(item: Item, end: i32, inClass: bool): bool {
    const single = this.escapedChar(end);
    if (single == NOT_SUPPORTED) return false;
    const c = this.pattern.charCodeAt(this.pos);
    this.pos++;
    if (single >= 0) {
      item.addRange(single, single);
      return true;
    }
    const negated = c == 0x44 || c == 0x57 || c == 0x53;
    if (negated) {
      if (inClass) {
        this.pos--;
        this.fail("a negated escape inside a class");
        return false;
      }
      item.negated = true;
    }
    const lower = c | 0x20;
    if (lower == 0x64) {
      item.addRange(0x30, 0x39);
    } else if (lower == 0x77) {
      item.addRange(0x30, 0x39);
      item.addRange(0x41, 0x5a);
      item.addRange(0x5f, 0x5f);
      item.addRange(0x61, 0x7a);
    } else {
      item.addRange(0x09, 0x0a);
      item.addRange(0x0c, 0x0d);
      item.addRange(0x20, 0x20);
    }
    return true;
  }
}

enum Last { Nothing, Item, Quantifier, Lazy }

const CLASS_ESCAPE: i32 = -1;
const NOT_SUPPORTED: i32 = -2;

function isWordChar(c: i32): bool {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f;
}
