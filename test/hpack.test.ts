import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { HpackDecoder, STATIC_TABLE, encodeHeaderBlock, writeInteger } from '../proxy/grpc/h2/hpack.js';
import { HUFFMAN_CODES, HUFFMAN_CODE_LENGTHS, decodeHuffman } from '../proxy/grpc/h2/huffman.js';

type Fields = Array<[string, string]>;

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

function decodeAll(decoder: HpackDecoder, block: Buffer): Fields | null {
  const out: string[] = [];
  const count = decoder.decode(block, 0, block.length, out);
  if (count < 0) return null;
  const fields: Fields = [];
  for (let i = 0; i < count; i += 2) fields.push([out[i], out[i + 1]]);
  return fields;
}

/** Test-side Huffman encoder built from the code table, to feed the decoder arbitrary strings. */
function huffmanEncode(bytes: Buffer): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    const length = HUFFMAN_CODE_LENGTHS[byte];
    const code = HUFFMAN_CODES[byte];
    for (let bit = length - 1; bit >= 0; bit--) {
      acc = (acc << 1) | ((code >>> bit) & 1);
      if (++bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) out.push((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)); // pad with the EOS prefix
  return Buffer.from(out);
}

/** A literal field with incremental indexing whose name and value are Huffman-coded (lengths < 127). */
function huffmanLiteral(name: Buffer, value: Buffer): Buffer {
  const n = huffmanEncode(name);
  const v = huffmanEncode(value);
  assert.ok(n.length < 127 && v.length < 127);
  return Buffer.concat([Buffer.from([0x40, 0x80 | n.length]), n, Buffer.from([0x80 | v.length]), v]);
}

describe('Huffman code (RFC 7541 Appendix B)', () => {
  test('the canonical codes match the published table', () => {
    const published: Array<[number, number, number]> = [
      [0, 0x1ff8, 13],
      [1, 0x7fffd8, 23],
      [10, 0x3ffffffc, 30],
      [32, 0x14, 6],
      [48, 0x0, 5],
      [58, 0x5c, 7],
      [92, 0x7fff0, 19],
      [97, 0x3, 5],
      [126, 0x1ffd, 13],
      [127, 0xffffffc, 28],
      [128, 0xfffe6, 20],
      [195, 0x7fff1, 19],
      [208, 0x7fff2, 19],
      [249, 0xffffffe, 28],
      [255, 0x3ffffee, 26],
      [256, 0x3fffffff, 30],
    ];
    for (const [symbol, code, length] of published) {
      assert.equal(HUFFMAN_CODE_LENGTHS[symbol], length, `length of ${symbol}`);
      assert.equal(HUFFMAN_CODES[symbol], code, `code of ${symbol}`);
    }
    // A complete prefix code: the Kraft sum is exactly 1.
    let kraft = 0;
    for (const length of HUFFMAN_CODE_LENGTHS) kraft += 2 ** -length;
    assert.equal(kraft, 1);
  });

  test('every byte value and random strings round-trip', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.equal(decodeHuffman(huffmanEncode(all), 0, huffmanEncode(all).length), all.toString('latin1'));
    for (let i = 0; i < 200; i++) {
      const bytes = randomBytes(randomInt(0, 64));
      const encoded = huffmanEncode(bytes);
      assert.equal(decodeHuffman(encoded, 0, encoded.length), bytes.toString('latin1'));
    }
  });

  test('invalid encodings are rejected', () => {
    const decode = (bytes: number[]): string | null => decodeHuffman(Buffer.from(bytes), 0, bytes.length);
    assert.equal(decode([0x1f]), 'a', "'a' (00011) padded with 111");
    assert.equal(decode([0x00]), null, 'padding that is not all ones');
    assert.equal(decode([0xff]), null, 'padding longer than 7 bits');
    assert.equal(decode([0xff, 0xff, 0xff, 0xff]), null, 'EOS inside the string');
    assert.equal(decode([]), '');
  });
});

describe('HPACK decoder against RFC 7541 Appendix C', () => {
  test('C.1 integer representation', () => {
    const encode = (value: number, prefix: number): string => {
      const buf = Buffer.alloc(8);
      return buf.subarray(0, writeInteger(buf, 0, value, prefix, 0)).toString('hex');
    };
    assert.equal(encode(10, 5), '0a');
    assert.equal(encode(1337, 5), '1f9a0a');
    assert.equal(encode(42, 8), '2a');
  });

  test('C.2 header field representations', () => {
    const withIndexing = new HpackDecoder();
    assert.deepEqual(decodeAll(withIndexing, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [
      ['custom-key', 'custom-header'],
    ]);
    assert.equal(withIndexing.tableSize, 55);
    const withoutIndexing = new HpackDecoder();
    assert.deepEqual(decodeAll(withoutIndexing, hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
    assert.equal(withoutIndexing.tableLength, 0);
    const neverIndexed = new HpackDecoder();
    assert.deepEqual(decodeAll(neverIndexed, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
    assert.equal(neverIndexed.tableLength, 0);
    assert.deepEqual(decodeAll(new HpackDecoder(), hex('82')), [[':method', 'GET']]);
  });

  const requests: Fields[] = [
    [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ],
    [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ],
    [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ],
  ];
  const requestTableSizes = [57, 110, 164];

  const runRequests = (blocks: string[]): void => {
    const decoder = new HpackDecoder();
    blocks.forEach((block, i) => {
      assert.deepEqual(decodeAll(decoder, hex(block)), requests[i], `request ${i + 1}`);
      assert.equal(decoder.tableSize, requestTableSizes[i], `table size after request ${i + 1}`);
    });
    // The newest entry is index 62: reference all three dynamic entries.
    assert.deepEqual(decodeAll(decoder, hex('be bf c0')), [
      ['custom-key', 'custom-value'],
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ]);
  };

  test('C.3 requests without Huffman coding', () => {
    runRequests([
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ]);
  });

  test('C.4 requests with Huffman coding', () => {
    runRequests([
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ]);
  });

  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const location = 'https://www.example.com';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  const responses: Fields[] = [
    [
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', date1],
      ['location', location],
    ],
    [
      [':status', '307'],
      ['cache-control', 'private'],
      ['date', date1],
      ['location', location],
    ],
    [
      [':status', '200'],
      ['cache-control', 'private'],
      ['date', date2],
      ['location', location],
      ['content-encoding', 'gzip'],
      ['set-cookie', cookie],
    ],
  ];

  const runResponses = (blocks: string[]): void => {
    const decoder = new HpackDecoder(256);
    const sizes = [222, 222, 215];
    const lengths = [4, 4, 3];
    blocks.forEach((block, i) => {
      assert.deepEqual(decodeAll(decoder, hex(block)), responses[i], `response ${i + 1}`);
      assert.equal(decoder.tableSize, sizes[i], `table size after response ${i + 1}`);
      assert.equal(decoder.tableLength, lengths[i], `entries after response ${i + 1}`);
    });
    // After the evictions only set-cookie, content-encoding and the second date are left, newest first.
    assert.deepEqual(decodeAll(decoder, hex('be bf c0')), [
      ['set-cookie', cookie],
      ['content-encoding', 'gzip'],
      ['date', date2],
    ]);
    assert.equal(decodeAll(decoder, hex('c1')), null, 'evicted entries are gone');
  };

  test('C.5 responses with evictions, without Huffman coding', () => {
    runResponses([
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d ' +
        '546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '4803 3330 37c1 c0bf',
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f ' +
        '6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b ' +
        '2076 6572 7369 6f6e 3d31',
    ]);
  });

  test('C.6 responses with evictions, with Huffman coding', () => {
    runResponses([
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 ' +
        '8f0b 97c8 e9ae 82ae 43d3',
      '4883 640e ffc1 c0bf',
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 ' +
        'dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ]);
  });
});

describe('HPACK decoder edge cases', () => {
  test('dynamic table size updates', () => {
    const decoder = new HpackDecoder();
    decodeAll(decoder, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    assert.equal(decoder.tableLength, 1);
    assert.deepEqual(decodeAll(decoder, hex('20 82')), [[':method', 'GET']], 'a size update to 0 empties the table');
    assert.equal(decoder.tableLength, 0);
    assert.deepEqual(decodeAll(decoder, hex('3fe11f 82')), [[':method', 'GET']], 'back up to the 4096 limit');
    assert.equal(decodeAll(decoder, hex('3fe21f')), null, 'above the SETTINGS limit');
    assert.equal(decodeAll(new HpackDecoder(), hex('82 20')), null, 'a size update after a field');
  });

  test('an entry larger than the table empties it and is not added', () => {
    const decoder = new HpackDecoder(64);
    decodeAll(decoder, hex('4001 61 0162')); // a: b, 34 octets
    assert.equal(decoder.tableLength, 1);
    const big = Buffer.concat([hex('4001 61 20'), Buffer.alloc(32, 0x78)]); // a: 32 x's, 65 octets
    assert.deepEqual(decodeAll(decoder, big), [['a', 'x'.repeat(32)]]);
    assert.equal(decoder.tableLength, 0);
    assert.equal(decoder.tableSize, 0);
  });

  test('malformed blocks are errors, never exceptions', () => {
    const malformed = [
      '80', // index 0
      'be', // dynamic index with an empty table
      'ff', // integer cut short
      'ff ff ff ff ff ff 0f', // integer too large
      '40', // literal without its name
      '4003 6162', // name longer than the block
      '0001 61', // value missing
      '0081 ff', // invalid Huffman name
      '0001 61 81 00', // invalid Huffman value padding
    ];
    for (const block of malformed) assert.equal(decodeAll(new HpackDecoder(), hex(block)), null, block);
    for (let i = 0; i < 2000; i++) {
      const block = randomBytes(randomInt(1, 40));
      const decoder = new HpackDecoder();
      assert.doesNotThrow(() => decoder.decode(block, 0, block.length, []));
    }
  });

  test('random header lists round-trip through the encoder', () => {
    const nameChars = 'abcdefghijklmnopqrstuvwxyz0123456789-_';
    const randomName = (): string =>
      Array.from({ length: randomInt(1, 30) }, () => nameChars[randomInt(nameChars.length)]).join('');
    for (let round = 0; round < 200; round++) {
      const fields: Fields = [];
      for (let i = randomInt(0, 12); i > 0; i--) {
        const pick = randomInt(3);
        if (pick === 0) fields.push([...STATIC_TABLE[randomInt(STATIC_TABLE.length)]] as [string, string]);
        else if (pick === 1) fields.push([STATIC_TABLE[randomInt(STATIC_TABLE.length)][0], randomBytes(randomInt(0, 300)).toString('latin1')]);
        else fields.push([randomName(), randomBytes(randomInt(0, 200)).toString('latin1')]);
      }
      assert.deepEqual(decodeAll(new HpackDecoder(), encodeHeaderBlock(fields)), fields);
    }
  });

  test('random Huffman-coded literals are indexed and referenced again', () => {
    const decoder = new HpackDecoder();
    for (let i = 0; i < 100; i++) {
      const name = Buffer.from(`x-${i}`);
      const value = randomBytes(randomInt(0, 30)); // at most 30 bits per byte: under 127 octets coded
      assert.deepEqual(decodeAll(decoder, huffmanLiteral(name, value)), [[name.toString(), value.toString('latin1')]]);
      assert.deepEqual(decodeAll(decoder, hex('be')), [[name.toString(), value.toString('latin1')]]);
    }
    assert.ok(decoder.tableSize <= 4096);
  });
});
