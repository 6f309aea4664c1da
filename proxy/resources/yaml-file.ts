// Reads a YAML file into its documents the way daprd sees them after YAML->JSON conversion.

import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { ResourceError } from './errors.js';
import { isMapping } from './fields.js';

// Integers come in as bigint so that an id like 12345678901234567890 keeps every digit; those beyond a double's
// exact range stay text (a metadata value is stringified anyway), the rest become plain numbers.
function exactInteger(_key: unknown, value: unknown): unknown {
  if (typeof value !== 'bigint') return value;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value.toString();
}

export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file does not exist' : `cannot read file: ${(err as Error).message}`;
    throw new ResourceError(file, '', reason, { cause: err });
  }
}

export interface YamlDocument {
  /** Position in the file, counting empty documents, for messages. */
  index: number;
  value: Record<string, unknown>;
}

/** The non-empty documents of a multi-document (`---`) YAML text; each must be a mapping. */
export function parseDocuments(text: string, file: string): YamlDocument[] {
  const out: YamlDocument[] = [];
  const documents = parseAllDocuments(text, { intAsBigInt: true });
  for (const [index, doc] of documents.entries()) {
    const syntax = doc.errors[0];
    if (syntax !== undefined) {
      throw new ResourceError(file, '', `invalid YAML: ${syntax.message.split('\n', 1)[0]}`, { cause: syntax });
    }
    const value: unknown = doc.toJS({ reviver: exactInteger });
    if (value === null || value === undefined) continue;
    if (!isMapping(value)) throw new ResourceError(file, '', `document ${index + 1} is not a mapping`);
    out.push({ index, value });
  }
  return out;
}
