import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DaprError } from '../proxy/runtime/errors.js';
import { appKey, keyPrefixFor, storedKey } from '../proxy/state/key-prefix.js';

const ctx = { appId: 'orders', namespace: '', storeName: 'statestore' };

describe('state key prefixes', () => {
  it('follows daprd for every keyPrefix setting', () => {
    assert.equal(keyPrefixFor(undefined, ctx), 'orders||');
    assert.equal(keyPrefixFor('appid', ctx), 'orders||');
    assert.equal(keyPrefixFor('AppID', ctx), 'orders||');
    assert.equal(keyPrefixFor('name', ctx), 'statestore||');
    assert.equal(keyPrefixFor('namespace', ctx), 'orders||', 'appid when there is no namespace');
    assert.equal(keyPrefixFor('namespace', { ...ctx, namespace: 'prod' }), 'prod.orders||');
    assert.equal(keyPrefixFor('none', ctx), '');
    assert.equal(keyPrefixFor('shared-cart', ctx), 'shared-cart||');
    assert.throws(() => keyPrefixFor('bad||prefix', ctx), /must not contain/);
  });

  it('builds and strips stored keys, refusing empty keys and keys with ||', () => {
    assert.equal(storedKey('orders||', 'k1'), 'orders||k1');
    assert.equal(storedKey('', 'k1'), 'k1');
    assert.equal(appKey('orders||', 'orders||k1'), 'k1');
    assert.equal(appKey('', 'k1'), 'k1');
    for (const key of ['', 'a||b']) {
      assert.throws(
        () => storedKey('orders||', key),
        (err: unknown) => err instanceof DaprError && err.errorCode === 'ERR_MALFORMED_REQUEST' && err.httpStatus === 400,
      );
    }
  });
});
