import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Binding, InvokeResponse } from '../components/bindings/bindings.js';
import { invokeBinding } from './support/bindings-client.js';
import { createComponent } from './support/components.js';
import { componentYaml } from './support/resources.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

const run = randomBytes(4).toString('hex');
const encoder = new TextEncoder();
const text = (data: Uint8Array | undefined): string => Buffer.from(data ?? []).toString('utf8');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function createStorage(rootPath: string): Promise<Binding> {
  const { instance } = await createComponent('bindings', 'bindings.localstorage', { rootPath }, { name: 'files-under-test' });
  return instance;
}

/** `data` as the HTTP API hands it over: the JSON encoding of the caller's value. */
function invoke(binding: Binding, operation: string, metadata: Record<string, string> = {}, data: unknown = null): Promise<InvokeResponse | null> {
  return binding.output!.invoke({ operation, data: encoder.encode(JSON.stringify(data)), metadata });
}

/**
 * A sandbox: `root` is the binding's rootPath; `outside` holds a secret file and a directory next to it, which
 * no request may read, write or remove. Inside the root, links lead out to both.
 */
function sandbox(): { root: string; outside: string; secret: string; remove(): void } {
  const dir = tempDir('localstorage');
  const root = join(dir.path, 'root');
  const outside = join(dir.path, 'outside');
  mkdirSync(root);
  mkdirSync(join(outside, 'dir'), { recursive: true });
  const secret = join(outside, 'secret.txt');
  writeFileSync(secret, 'top secret');
  writeFileSync(join(outside, 'dir', 'inner.txt'), 'inner secret');
  symlinkSync(secret, join(root, 'link-to-secret'));
  symlinkSync(join(outside, 'dir'), join(root, 'link-to-dir'));
  symlinkSync(join(outside, 'not-yet'), join(root, 'dangling-link'));
  symlinkSync(join(outside, 'missing-dir'), join(root, 'dangling-dir-link'));
  return { root, outside, secret, remove: dir.remove };
}

/** Everything under `dir`, with contents, to prove an attack left it as it was. */
function snapshot(dir: string): string {
  const lines: string[] = [];
  const walk = (path: string, prefix: string): void => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      const info = lstatSync(full);
      if (info.isDirectory()) walk(full, `${prefix}${name}/`);
      else lines.push(`${prefix}${name}=${info.isSymbolicLink() ? 'link' : readFileSync(full, 'utf8')}`);
    }
  };
  walk(dir, '');
  return lines.join('\n');
}

describe('bindings.localstorage', () => {
  const box = sandbox();
  let storage: Binding;
  before(async () => {
    storage = await createStorage(box.root);
  });
  after(() => box.remove());

  test('is an output binding with create, get, list and delete', async () => {
    const { info } = await createComponent('bindings', 'bindings.localstorage', { rootPath: box.root });
    assert.deepEqual(info.capabilities, ['OUTPUT_BINDING']);
    assert.deepEqual(storage.output!.operations(), ['create', 'get', 'list', 'delete']);
  });

  test('rootPath is required and created when missing', async () => {
    await assert.rejects(createComponent('bindings', 'bindings.localstorage', {}, { name: 'no-root' }), /no-root.*metadata "rootPath" is required/);
    const missing = join(box.outside, '..', `created-${run}`, 'deeper');
    await createStorage(missing);
    assert.ok(existsSync(missing));
    writeFileSync(join(box.outside, 'a-file'), '');
    await assert.rejects(createStorage(join(box.outside, 'a-file')), /files-under-test/);
  });

  test('create stores a JSON string un-quoted and answers the file name; get returns the bytes', async () => {
    const created = await invoke(storage, 'create', { fileName: 'hello.txt' }, 'Hello World');
    assert.deepEqual(JSON.parse(text(created?.data)), { fileName: 'hello.txt' });
    assert.equal(readFileSync(join(box.root, 'hello.txt'), 'utf8'), 'Hello World');
    assert.equal(text((await invoke(storage, 'get', { fileName: 'hello.txt' }))?.data), 'Hello World');
  });

  test('create decodes valid standard base64, which is how binary files are sent', async () => {
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await invoke(storage, 'create', { fileName: 'binary.bin' }, binary.toString('base64'));
    assert.deepEqual(readFileSync(join(box.root, 'binary.bin')), binary);
    assert.deepEqual(Buffer.from((await invoke(storage, 'get', { fileName: 'binary.bin' }))!.data), binary);
    // Line breaks inside base64 are skipped, as Go's decoder skips them.
    await invoke(storage, 'create', { fileName: 'wrapped.bin' }, 'SGVs\nbG8=');
    assert.equal(readFileSync(join(box.root, 'wrapped.bin'), 'utf8'), 'Hello');
    // A text that happens to be valid base64 is decoded too, as daprd decodes it.
    await invoke(storage, 'create', { fileName: 'word.txt' }, 'test');
    assert.deepEqual(readFileSync(join(box.root, 'word.txt')), Buffer.from('test', 'base64'));
    // Unpadded, URL-safe or otherwise invalid base64 is stored as the text it is.
    for (const content of ['SGVsbG8', 'a-b_', 'abc=d===', 'Hello World']) {
      await invoke(storage, 'create', { fileName: 'plain.txt' }, content);
      assert.equal(readFileSync(join(box.root, 'plain.txt'), 'utf8'), content);
    }
  });

  test('data other than a string is stored as its JSON text', async () => {
    await invoke(storage, 'create', { fileName: 'order.json' }, { id: 7, items: ['a'] });
    assert.equal(readFileSync(join(box.root, 'order.json'), 'utf8'), '{"id":7,"items":["a"]}');
  });

  test('create without fileName picks a random UUID; an existing file is replaced', async () => {
    const created = await invoke(storage, 'create', {}, 'anonymous');
    const { fileName } = JSON.parse(text(created?.data)) as { fileName: string };
    assert.match(fileName, UUID);
    assert.equal(readFileSync(join(box.root, fileName), 'utf8'), 'anonymous');
    await invoke(storage, 'create', { fileName }, 'replaced!');
    assert.equal(readFileSync(join(box.root, fileName), 'utf8'), 'replaced!');
  });

  test('create makes the directories on the way; a name with .. that stays inside is allowed', async () => {
    await invoke(storage, 'create', { fileName: 'nested/deeper/file.txt' }, 'deep down');
    assert.equal(readFileSync(join(box.root, 'nested', 'deeper', 'file.txt'), 'utf8'), 'deep down');
    assert.equal(text((await invoke(storage, 'get', { fileName: 'nested/other/../deeper/file.txt' }))?.data), 'deep down');
    await assert.rejects(invoke(storage, 'create', { fileName: 'nested' }, 'x'), /"nested" is a directory/);
  });

  test('get of a missing file, or without a fileName, fails naming it', async () => {
    await assert.rejects(invoke(storage, 'get', { fileName: 'nope.txt' }), /file "nope\.txt" not found/);
    await assert.rejects(invoke(storage, 'get', { fileName: 'nowhere/nope.txt' }), /file "nowhere\/nope\.txt" not found/);
    await assert.rejects(invoke(storage, 'get'), /request metadata "fileName" is required/);
    await assert.rejects(invoke(storage, 'get', { fileName: 'nested' }), /"nested" is not a file/);
  });

  test('list answers the files under rootPath, or under the directory named by fileName', async () => {
    const listRoot = join(box.root, '..', `list-${run}`);
    const lister = await createStorage(listRoot);
    assert.deepEqual(JSON.parse(text((await invoke(lister, 'list'))?.data)), []);
    const under = (...names: string[]): string[] => names.map((name) => join(realpathSync(listRoot), name));
    for (const name of ['b.txt', 'a/2.txt', 'a/1.txt', 'a/sub/x.txt', 'c/empty/../c.txt']) await invoke(lister, 'create', { fileName: name }, name);
    mkdirSync(join(listRoot, 'empty-dir'));
    assert.deepEqual(JSON.parse(text((await invoke(lister, 'list'))?.data)), under('a/1.txt', 'a/2.txt', 'a/sub/x.txt', 'b.txt', 'c/c.txt'));
    assert.deepEqual(JSON.parse(text((await invoke(lister, 'list', { fileName: 'a' }))?.data)), under('a/1.txt', 'a/2.txt', 'a/sub/x.txt'));
    assert.deepEqual(JSON.parse(text((await invoke(lister, 'list', { fileName: 'a/sub/' }))?.data)), under('a/sub/x.txt'));
    assert.deepEqual(JSON.parse(text((await invoke(lister, 'list', { fileName: 'b.txt' }))?.data)), under('b.txt'));
    await assert.rejects(invoke(lister, 'list', { fileName: 'nothing-here' }), /directory "nothing-here" not found/);
  });

  test('list shows links as entries without following them', async () => {
    const names = (JSON.parse(text((await invoke(storage, 'list'))?.data)) as string[]).map((name) => relative(realpathSync(box.root), name));
    assert.ok(names.includes('link-to-dir') && names.includes('link-to-secret'));
    assert.ok(!names.some((name) => name.startsWith('link-to-dir/')));
  });

  test('delete removes a file; a missing one or a directory fails', async () => {
    await invoke(storage, 'create', { fileName: 'doomed.txt' }, 'bye');
    assert.equal(await invoke(storage, 'delete', { fileName: 'doomed.txt' }), null);
    assert.ok(!existsSync(join(box.root, 'doomed.txt')));
    await assert.rejects(invoke(storage, 'delete', { fileName: 'doomed.txt' }), /file "doomed\.txt" not found/);
    await assert.rejects(invoke(storage, 'delete', { fileName: 'nested' }), /"nested" is a directory/);
    await assert.rejects(invoke(storage, 'delete'), /request metadata "fileName" is required/);
  });

  test('a link that stays inside rootPath is followed; deleting it removes the link, not its target', async () => {
    await invoke(storage, 'create', { fileName: 'target.txt' }, 'the target');
    symlinkSync(join(box.root, 'target.txt'), join(box.root, 'inner-link'));
    assert.equal(text((await invoke(storage, 'get', { fileName: 'inner-link' }))?.data), 'the target');
    await invoke(storage, 'create', { fileName: 'inner-link' }, 'through the link');
    assert.equal(readFileSync(join(box.root, 'target.txt'), 'utf8'), 'through the link');
    await invoke(storage, 'delete', { fileName: 'inner-link' });
    assert.ok(!existsSync(join(box.root, 'inner-link')));
    assert.ok(existsSync(join(box.root, 'target.txt')));
  });
});

describe('bindings.localstorage confinement', () => {
  const box = sandbox();
  let storage: Binding;
  let outsideBefore = '';
  before(async () => {
    storage = await createStorage(box.root);
    outsideBefore = snapshot(box.outside);
  });
  after(() => box.remove());

  /** Names that reach outside rootPath, and the reason each is refused. */
  const attacks: Array<[string, RegExp]> = [
    ['../outside/secret.txt', /leads outside rootPath/],
    ['../../etc/passwd', /leads outside rootPath/],
    ['a/../../outside/secret.txt', /leads outside rootPath/],
    ['./a/b/../../../outside/secret.txt', /leads outside rootPath/],
    ['..', /leads outside rootPath/],
    ['/etc/passwd', /must be relative to rootPath/],
    ['SECRET_PLACEHOLDER', /must be relative to rootPath/],
    ['..%2foutside%2fsecret.txt', /leads outside rootPath/],
    ['%2e%2e/outside/secret.txt', /leads outside rootPath/],
    ['%2E%2E%2Foutside%2Fsecret.txt', /leads outside rootPath/],
    ['..%252foutside%252fsecret.txt', /leads outside rootPath/],
    ['%2fetc%2fpasswd', /must be relative to rootPath/],
    ['..\\outside\\secret.txt', /leads outside rootPath/],
    ['secret.txt\0.png', /contains a NUL byte/],
    ['..%00/secret.txt', /contains a NUL byte/],
    ['link-to-secret', /leads outside rootPath through a symbolic link/],
    ['link-to-dir/inner.txt', /leads outside rootPath through a symbolic link/],
    ['link-to-dir/new-file.txt', /leads outside rootPath through a symbolic link/],
    ['link-to-dir/new-dir/new-file.txt', /leads outside rootPath through a symbolic link/],
  ];
  const named = (name: string): string => (name === 'SECRET_PLACEHOLDER' ? box.secret : name);

  for (const operation of ['create', 'get', 'delete', 'list']) {
    test(`${operation} refuses every name that leads outside rootPath`, async () => {
      for (const [name, reason] of attacks) {
        await assert.rejects(invoke(storage, operation, { fileName: named(name) }, 'pwned'), (err: Error) => {
          assert.match(err.message, reason, `${operation} "${name}"`);
          return true;
        });
      }
      assert.equal(snapshot(box.outside), outsideBefore, 'nothing outside rootPath changed');
    });
  }

  test('a dangling link to outside is not written through, neither as a file nor as a directory', async () => {
    await assert.rejects(invoke(storage, 'create', { fileName: 'dangling-link' }, 'pwned'));
    await assert.rejects(invoke(storage, 'create', { fileName: 'dangling-dir-link/file.txt' }, 'pwned'));
    assert.ok(!existsSync(join(box.outside, 'not-yet')));
    assert.ok(!existsSync(join(box.outside, 'missing-dir')));
    assert.equal(snapshot(box.outside), outsideBefore);
  });

  test('rootPath itself is not a file', async () => {
    for (const name of ['.', './', 'a/..']) {
      await assert.rejects(invoke(storage, 'create', { fileName: name }, 'x'), /names rootPath itself/);
      await assert.rejects(invoke(storage, 'delete', { fileName: name }), /names rootPath itself/);
    }
  });
});

describe('bindings.localstorage through the sidecar', () => {
  const box = sandbox();
  const resources = tempDir('localstorage-resources');
  const registry = tempDir('localstorage-registry');
  let sidecar: SidecarProcess;
  before(async () => {
    writeFileSync(join(resources.path, 'files.yaml'), componentYaml({ name: 'files', type: 'bindings.localstorage', metadata: { rootPath: box.root } }));
    sidecar = await startSidecar({ appId: `localstorage-${run}`, registryDir: registry.path, args: ['--resources-path', resources.path] });
  });
  after(async () => {
    await sidecar?.stop('SIGKILL');
    box.remove();
    resources.remove();
    registry.remove();
  });

  test('create, get, list and delete', async () => {
    const created = await invokeBinding(sidecar, 'files', { operation: 'create', data: 'Hello World', metadata: { fileName: 'docs/hello.txt' } });
    assert.equal(created.status, 200, created.body.toString());
    assert.deepEqual(JSON.parse(created.body.toString()), { fileName: 'docs/hello.txt' });

    const anonymous = await invokeBinding(sidecar, 'files', { operation: 'create', data: Buffer.from([0, 1, 2, 255]).toString('base64') });
    assert.equal(anonymous.status, 200);
    const { fileName } = JSON.parse(anonymous.body.toString()) as { fileName: string };
    assert.match(fileName, UUID);
    assert.deepEqual(readFileSync(join(box.root, fileName)), Buffer.from([0, 1, 2, 255]));

    const got = await invokeBinding(sidecar, 'files', { operation: 'get', metadata: { fileName: 'docs/hello.txt' } });
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), 'Hello World');

    const listed = await invokeBinding(sidecar, 'files', { operation: 'list', metadata: { fileName: 'docs' } });
    assert.equal(listed.status, 200);
    assert.deepEqual(JSON.parse(listed.body.toString()), [join(realpathSync(box.root), 'docs', 'hello.txt')]);

    const deleted = await invokeBinding(sidecar, 'files', { operation: 'delete', metadata: { fileName: 'docs/hello.txt' } });
    assert.equal(deleted.status, 204);
    assert.ok(!existsSync(join(box.root, 'docs', 'hello.txt')));

    const missing = await invokeBinding(sidecar, 'files', { operation: 'get', metadata: { fileName: 'docs/hello.txt' } });
    assert.equal(missing.status, 500);
    const error = JSON.parse(missing.body.toString()) as { errorCode: string; message: string };
    assert.equal(error.errorCode, 'ERR_INVOKE_OUTPUT_BINDING');
    assert.match(error.message, /file "docs\/hello\.txt" not found/);

    const unsupported = await invokeBinding(sidecar, 'files', { operation: 'rename', metadata: { fileName: 'x' } });
    assert.equal(unsupported.status, 500);
  });

  test('path traversal is refused through the API, and nothing outside changes', async () => {
    const before = snapshot(box.outside);
    for (const [operation, fileName] of [
      ['get', '../outside/secret.txt'],
      ['get', 'link-to-secret'],
      ['create', '..%2foutside%2fsecret.txt'],
      ['create', 'link-to-dir/planted.txt'],
      ['delete', 'a/../../outside/secret.txt'],
      ['list', '../outside'],
      ['get', box.secret],
    ] as const) {
      const result = await invokeBinding(sidecar, 'files', { operation, data: 'pwned', metadata: { fileName } });
      assert.equal(result.status, 500, `${operation} ${fileName}`);
      assert.match(result.body.toString(), /is not allowed/);
      assert.doesNotMatch(result.body.toString(), /top secret/);
    }
    assert.equal(snapshot(box.outside), before);
  });
});
