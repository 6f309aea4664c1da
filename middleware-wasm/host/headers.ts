// Header fields as a middleware sees them: a snapshot taken from the wire plus an overlay of what guests changed.
// Untouched headers are never copied, so a chain of middleware that only reads costs nothing per header.

/** One header section (request or response) of an exchange. Names are compared lower-case. */
export interface HeaderFields {
  /**
   * Stores the distinct names, lower-case, in first-seen order, from `out[0]` on; returns their count. Entries of
   * `out` past the count are left from earlier use: callers reuse one array and never truncate it (truncating an
   * array is a slow runtime call).
   */
  collectNames(out: string[]): number;
  /** Stores every value of `lowerName`, in order, from `out[0]` on; returns their count (see `collectNames`). */
  collectValues(lowerName: string, out: string[]): number;
  set(lowerName: string, value: string): void;
  add(lowerName: string, value: string): void;
  remove(lowerName: string): void;
}

/** The values a change gives a name: most changes set one, kept as itself; several, or none, in an array. */
type ChangedValues = string | string[];

/**
 * A flat `[name, value, ...]` snapshot (lower-case names, repeats kept, as the front reads them off the wire) with
 * changes recorded per name. A changed name's values replace every snapshot value of that name; none removes it.
 * Changes are a flat `[name, values, ...]` list searched linearly: a guest changes a handful of headers, and a Map
 * costs more to create than such a scan does.
 */
export class HeaderOverlay implements HeaderFields {
  private changes: ChangedValues[] | null = null;

  constructor(private readonly snapshot: readonly string[]) {}

  /** False while no middleware changed anything: the front may then forward the snapshot as it is. */
  get modified(): boolean {
    return this.changes !== null;
  }

  collectNames(out: string[]): number {
    const snapshot = this.snapshot;
    const changes = this.changes;
    let count = 0;
    for (let i = 0; i < snapshot.length; i += 2) {
      const name = snapshot[i]!;
      // A changed name keeps its place unless every value was removed.
      if (changes !== null && countOf(this.changedValues(name)) === 0) continue;
      if (!listed(out, count, name)) out[count++] = name;
    }
    if (changes !== null) {
      for (let i = 0; i < changes.length; i += 2) {
        const name = changes[i] as string;
        if (countOf(changes[i + 1]) > 0 && !listed(out, count, name)) out[count++] = name;
      }
    }
    return count;
  }

  collectValues(lowerName: string, out: string[]): number {
    // Tested here rather than left to changedValues: most reads come before any change, and stay this small.
    const replaced = this.changes === null ? undefined : this.changedValues(lowerName);
    if (replaced !== undefined) return copyValues(replaced, out);
    const snapshot = this.snapshot;
    let count = 0;
    for (let i = 0; i < snapshot.length; i += 2) {
      if (snapshot[i] === lowerName) out[count++] = snapshot[i + 1]!;
    }
    return count;
  }

  set(lowerName: string, value: string): void {
    this.replace(lowerName, value);
  }

  add(lowerName: string, value: string): void {
    const values: string[] = [];
    this.collectValues(lowerName, values);
    values.push(value);
    this.replace(lowerName, values);
  }

  remove(lowerName: string): void {
    this.replace(lowerName, []);
  }

  /** The headers as a flat `[name, value, ...]` list with every change applied, for the front to send on. */
  toFlat(): string[] {
    const changes = this.changes;
    if (changes === null) return this.snapshot.slice();
    const flat: string[] = [];
    const snapshot = this.snapshot;
    const placed = new Set<string>();
    for (let i = 0; i < snapshot.length; i += 2) {
      const name = snapshot[i]!;
      const values = this.changedValues(name);
      if (values === undefined) {
        flat.push(name, snapshot[i + 1]!);
      } else if (!placed.has(name)) {
        placed.add(name);
        pushValues(flat, name, values);
      }
    }
    for (let i = 0; i < changes.length; i += 2) {
      const name = changes[i] as string;
      if (!placed.has(name)) pushValues(flat, name, changes[i + 1]!);
    }
    return flat;
  }

  private changedValues(lowerName: string): ChangedValues | undefined {
    const changes = this.changes;
    if (changes === null) return undefined;
    for (let i = 0; i < changes.length; i += 2) if (changes[i] === lowerName) return changes[i + 1];
    return undefined;
  }

  private replace(lowerName: string, values: ChangedValues): void {
    const changes = this.changes;
    if (changes === null) {
      this.changes = [lowerName, values];
      return;
    }
    for (let i = 0; i < changes.length; i += 2) {
      if (changes[i] === lowerName) {
        changes[i + 1] = values;
        return;
      }
    }
    changes.push(lowerName, values);
  }
}

function countOf(values: ChangedValues | undefined): number {
  return values === undefined ? -1 : typeof values === 'string' ? 1 : values.length;
}

function copyValues(values: ChangedValues, out: string[]): number {
  if (typeof values === 'string') {
    out[0] = values;
    return 1;
  }
  for (let i = 0; i < values.length; i++) out[i] = values[i]!;
  return values.length;
}

function pushValues(flat: string[], name: string, values: ChangedValues): void {
  if (typeof values === 'string') flat.push(name, values);
  else for (const value of values) flat.push(name, value);
}

function listed(names: readonly string[], count: number, name: string): boolean {
  for (let i = 0; i < count; i++) if (names[i] === name) return true;
  return false;
}

/** Lower-cases the names of a flat `[name, value, ...]` list given in any case. */
export function lowerCaseNames(flat: readonly string[]): string[] {
  const lowered = flat.slice();
  for (let i = 0; i < lowered.length; i += 2) lowered[i] = lowered[i]!.toLowerCase();
  return lowered;
}
