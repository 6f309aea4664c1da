// `bindings.localstorage`: files under `rootPath`, after daprd's local storage binding. Operations `create`,
// `get`, `list` and `delete`, each naming its file (or, for `list`, a directory) in the request metadata
// `fileName`. Every name is confined to rootPath (see root-directory.ts).

import { randomUUID } from 'node:crypto';
import { stringProperty } from '../../metadata.js';
import { registerComponent } from '../../registry.js';
import { bindingCapabilities, type Binding, type BindingMetadata, type InvokeRequest, type InvokeResponse, type OutputBinding } from '../bindings.js';
import { unquotedData } from '../request-data.js';
import { RootDirectory } from './root-directory.js';


export class LocalStorageBinding implements Binding, OutputBinding {
  readonly output: OutputBinding = this;

  constructor(private readonly root: RootDirectory) {}

  operations(): readonly string[] {
    return ['create', 'get', 'list', 'delete'];
  }

  async invoke(req: InvokeRequest): Promise<InvokeResponse | null> {
    switch (req.operation) {
      case 'create':
        return this.create(req);
      case 'get':
        return { data: await this.root.read(requiredFileName(req.metadata)), metadata: {} };
      case 'list':
        return { data: Buffer.from(JSON.stringify(await this.root.list(req.metadata.fileName ?? ''))), metadata: {} };
      case 'delete':
        await this.root.remove(requiredFileName(req.metadata));
        return null;
      default:
        throw new Error(`unsupported operation "${req.operation}"`);
    }
  }

  /** Answers `{"fileName": ...}`: the name given, or the random one chosen. */
  private async create(req: InvokeRequest): Promise<InvokeResponse> {
    const fileName = req.metadata.fileName || randomUUID();
    await this.root.write(fileName, fileContent(req.data));
    return { data: Buffer.from(JSON.stringify({ fileName })), metadata: {} };
  }
}

/**
 * As daprd stores it: a JSON string's content, and that decoded when it is valid standard base64, which is how
 * callers send binary files. A text that happens to be valid base64 ("test") is decoded too, as daprd does.
 */
function fileContent(data: Uint8Array): Uint8Array {
  const content = unquotedData(data);
  const text = Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('latin1').replace(/[\r\n]/g, '');
  return isStandardBase64(text) ? Buffer.from(text, 'base64') : content;
}

/** What Go's base64.StdEncoding accepts once line breaks are removed: the standard alphabet, padded to fours. */
function isStandardBase64(text: string): boolean {
  if (text.length % 4 !== 0) return false;
  const unpadded = text.endsWith('==') ? text.slice(0, -2) : text.endsWith('=') ? text.slice(0, -1) : text;
  return !/[^A-Za-z0-9+/]/.test(unpadded);
}

function requiredFileName(metadata: BindingMetadata): string {
  const fileName = metadata.fileName ?? '';
  if (fileName === '') throw new Error('request metadata "fileName" is required');
  return fileName;
}

registerComponent({
  type: 'bindings.localstorage',
  versions: ['v1'],
  kind: 'bindings',
  create: async (meta) => {
    const rootPath = stringProperty(meta, 'rootPath', '');
    if (rootPath === '') throw new Error('metadata "rootPath" is required');
    return new LocalStorageBinding(await RootDirectory.open(rootPath));
  },
  capabilities: bindingCapabilities,
});
