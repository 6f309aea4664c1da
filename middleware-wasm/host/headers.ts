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

/**
 * A flat `[name, value, ...]` snapshot (lower-case names, repeats kept, as the front reads them off the wire) with
 * changes recorded per name. A changed name's values replace every snapshot value of that name; an empty list
 * removes it. Changes are a flat `[name, values, ...]` list searched linearly: a guest changes a handful of
 * headers, and a Map costs more to create than such a scan does.
 */
export class HeaderOverlay implements HeaderFields {
  private changes: Array<string | string[]> | null = null;

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
      if (changes !== null && this.changedValues(name)?.length === 0) continue;
      if (!listed(out, count, name)) out[count++] = name;
    }
    if (changes !== null) {
      for (let i = 0; i < changes.length; i += 2) {
        const name = changes[i] as string;
        if ((changes[i + 1] as string[]).length > 0 && !listed(out, count, name)) out[count++] = name;
      }
    }
    return count;
  }

  collectValues(lowerName: string, out: string[]): number {
    // Tested here rather than left to changedValues: most reads come before any change, and stay this small.
    const replaced = this.changes === null ? undefined : this.changedValues(lowerName);
    if (replaced !== undefined) {
      for (let i = 0; i < replaced.length; i++) out[i] = replaced[i]!;
      return replaced.length;
    }
    const snapshot = this.snapshot;
    let count = 0;
    for (let i = 0; i < snapshot.length; i += 2) {
      if (snapshot[i] === lowerName) out[count++] = snapshot[i + 1]!;
    }
    return count;
  }

  set(lowerName: string, value: string): void {
    this.replace(lowerName, [value]);
  }

  add(lowerName: string, value: string): void {
    let values = this.changedValues(lowerName);
    if (values === undefined) {
      values = [];
      this.collectValues(lowerName, values);
      this.replace(lowerName, values);
    }
    values.push(value);
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
        for (const value of values) flat.push(name, value);
      }
    }
    for (let i = 0; i < changes.length; i += 2) {
      const name = changes[i] as string;
      if (!placed.has(name)) for (const value of changes[i + 1] as string[]) flat.push(name, value);
    }
    return flat;
  }

  private changedValues(lowerName: string): string[] | undefined {
    const changes = this.changes;
    if (changes === null) return undefined;
    for (let i = 0; i < changes.length; i += 2) if (changes[i] === lowerName) return changes[i + 1] as string[];
    return undefined;
  }

  private replace(lowerName: string, values: string[]): void {
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
