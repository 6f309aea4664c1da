// The confinement of `bindings.localstorage`: every file name a caller gives is resolved inside rootPath, and a
// name that would reach anything outside it is refused before anything is read, written or removed. Refused:
// `..` segments that climb above the root, absolute names, the same hidden behind percent-encoding (`..%2f`) or
// backslashes, NUL bytes, and symbolic links inside the root that lead out of it.
//
// Names are resolved lexically first (`a/../b` is `b`), so `..` is never left for the kernel to apply after a
// symbolic link. Then every link on the way is followed (realpath) and the result must still be inside the root;
// the final open refuses to follow a link (O_NOFOLLOW), so a link swapped in after the check is not followed. A
// directory swapped for a link between the check and the open is a race this does not close.

import { constants, type Dirent } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, posix, resolve, sep } from 'node:path';

/** Percent-decoding is applied this many times at most when looking for a hidden escape (`%252e` is `%2e`). */
const DECODING_ROUNDS = 3;

export class RootDirectory {
  private constructor(
    /** The root with every symbolic link resolved. */
    readonly path: string,
  ) {}

  /** Creates rootPath if it is missing. */
  static async open(rootPath: string): Promise<RootDirectory> {
    await mkdir(rootPath, { recursive: true });
    const real = await realpath(rootPath);
    if (!(await stat(real)).isDirectory()) throw new Error(`metadata "rootPath" is not a directory: "${rootPath}"`);
    return new RootDirectory(real);
  }

  /** Reads an existing file. */
  async read(name: string): Promise<Buffer> {
    const real = await this.existingPath(name);
    const file = await this.openNoFollow(name, real, constants.O_RDONLY);
    try {
      if (!(await file.stat()).isFile()) throw new Error(`"${name}" is not a file`);
      return await file.readFile();
    } finally {
      await file.close();
    }
  }

  /** Writes a file, replacing one that exists, and creates the directories on its way. */
  async write(name: string, data: Uint8Array): Promise<void> {
    const target = await this.writablePath(name);
    const file = await this.openNoFollow(name, target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC);
    try {
      await file.writeFile(data);
    } finally {
      await file.close();
    }
  }

  /** Removes the named file (a symbolic link itself, not what it leads to). */
  async remove(name: string): Promise<void> {
    const lexical = this.lexicalPath(name, false);
    const parent = await this.existingPath(name, dirname(lexical));
    const entry = `${parent}${sep}${basename(lexical)}`;
    const info = await lstat(entry).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? notFound(name) : err;
    });
    if (info.isDirectory()) throw new Error(`"${name}" is a directory, not a file`);
    if (info.isSymbolicLink()) await this.existingPath(name, entry);
    await unlink(entry);
  }

  /**
   * Absolute paths of the files under `directory` (the root when empty), as daprd lists them, in the order of a
   * depth-first walk by name. Links are listed, not followed.
   */
  async list(directory: string): Promise<string[]> {
    const start = await this.existingPath(directory, directory === '' ? this.path : this.lexicalPath(directory, true), 'directory');
    const files: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        const full = `${dir}${sep}${entry.name}`;
        if (entry.isDirectory()) await walk(full);
        else files.push(full);
      }
    };
    if ((await stat(start)).isDirectory()) await walk(start);
    else files.push(start);
    return files;
  }

  /**
   * The absolute path a name stands for, resolved without touching the file system. Refuses a name that would
   * leave the root in any of the forms checked.
   */
  private lexicalPath(name: string, rootAllowed: boolean): string {
    for (const form of suspectForms(name)) {
      if (form.includes('\0')) throw refused(printable(name), 'it contains a NUL byte');
      if (form.startsWith('/') || /^[A-Za-z]:/.test(form)) {
        throw refused(name, 'it must be relative to rootPath');
      }
      const normalized = posix.normalize(form);
      if (normalized === '..' || normalized.startsWith('../')) {
        throw refused(name, 'it leads outside rootPath');
      }
      if (!rootAllowed && (normalized === '.' || normalized === './')) {
        throw refused(name, 'it names rootPath itself');
      }
    }
    return resolve(this.path, name);
  }

  /** The real path of an existing entry (by default the named one), which must be inside the root. */
  private async existingPath(name: string, path = this.lexicalPath(name, false), what = 'file'): Promise<string> {
    let real: string;
    try {
      real = await realpath(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Whether something exists outside the root is not the caller's to learn either.
      this.assertInside(name, (await this.nearestExisting(path)).real);
      throw notFound(name, what);
    }
    this.assertInside(name, real);
    return real;
  }

  /**
   * Where a write of `name` goes: its real path when it exists, else the real path of its nearest existing
   * ancestor, checked, with the missing rest appended (those directories are created).
   */
  private async writablePath(name: string): Promise<string> {
    const lexical = this.lexicalPath(name, false);
    const { real, missing } = await this.nearestExisting(lexical);
    this.assertInside(name, real);
    if (missing.length === 0) {
      if ((await stat(real)).isDirectory()) throw new Error(`"${name}" is a directory, not a file`);
      return real;
    }
    // One level at a time, each checked: a recursive mkdir would follow a link it met on the way.
    let dir = real;
    for (const segment of missing.slice(0, -1)) {
      await mkdir(`${dir}${sep}${segment}`).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      dir = await this.existingPath(name, `${dir}${sep}${segment}`);
    }
    return `${dir}${sep}${missing.at(-1)!}`;
  }

  /** The real path of the nearest existing ancestor of `path` (itself included) and the names below it, outermost first. */
  private async nearestExisting(path: string): Promise<{ real: string; missing: string[] }> {
    const missing: string[] = [];
    for (let current = path; ; current = dirname(current)) {
      try {
        return { real: await realpath(current), missing: missing.reverse() };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || current === this.path) throw err;
        missing.push(basename(current));
      }
    }
  }

  private async openNoFollow(name: string, path: string, flags: number): Promise<FileHandle> {
    try {
      return await open(path, flags | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw refused(name, 'it was replaced by a symbolic link');
      if (code === 'ENOENT') throw notFound(name);
      throw err;
    }
  }

  private assertInside(name: string, real: string): void {
    if (real !== this.path && !real.startsWith(this.path.endsWith(sep) ? this.path : `${this.path}${sep}`)) {
      throw refused(name, 'it leads outside rootPath through a symbolic link');
    }
  }
}

/**
 * The name as given, with backslashes read as separators (as another system would), and percent-decoded as a web
 * layer in front of the app might have decoded it: any of them escaping is reason enough to refuse the name.
 */
function suspectForms(name: string): string[] {
  const forms = [name];
  let decoded = name;
  for (let round = 0; round < DECODING_ROUNDS; round++) {
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      break;
    }
    if (next === decoded) break;
    forms.push(next);
    decoded = next;
  }
  return forms.flatMap((form) => (form.includes('\\') ? [form, form.replaceAll('\\', '/')] : [form]));
}

function refused(name: string, reason: string): Error {
  return new Error(`file name "${name}" is not allowed: ${reason}`);
}

function notFound(name: string, what = 'file'): Error {
  return new Error(`${what} "${name}" not found`);
}

function printable(name: string): string {
  return name.replaceAll('\0', '\\0');
}
