// The envelope in JavaScript against the test vectors of crypto/envelope:
// every vector is opened by every identity it names, which must all get
// the outcome it names; every vector with a content key is opened with it
// too; every vector Seal produced is sealed again byte for byte.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const nacl = require('../../intake/static/nacl.min.js');
const t = require('../../intake/static/testimony.js');
const { open, openWithKey } = require('../open.js');

const dir = path.join(__dirname, '..', '..', 'crypto', 'envelope', 'testdata');
const KINDS = ['success', 'not recipient', 'inconsistent', 'damaged', 'malformed', 'wrong study'];

function readVector(file) {
  const v = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const i = line.indexOf(': ');
    if (i < 0 && line.endsWith(':')) { v[line.slice(0, -1)] = ''; continue; }
    assert.ok(i > 0, `${file}: malformed line`);
    v[line.slice(0, i)] = line.slice(i + 2);
  }
  return v;
}

const files = fs.readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

test('there are vectors of every kind', () => {
  const kinds = new Set(files.map((f) => readVector(path.join(dir, f)).expect));
  for (const k of KINDS) assert.ok(kinds.has(k), k);
  assert.ok(files.length >= 30);
});

function outcome(fn) {
  try {
    const o = fn();
    return { kind: 'success', plaintext: Buffer.from(o.plaintext).toString('hex'), key: Buffer.from(o.key).toString('hex') };
  } catch (e) {
    if (!e.kind) throw e;
    return { kind: e.kind };
  }
}

for (const f of files) {
  const v = readVector(path.join(dir, f));
  test(`vector ${f}: ${v.description}`, () => {
    assert.ok(KINDS.includes(v.expect), v.expect);
    const env = Buffer.from(v.envelope, 'base64');
    const want = v.expect === 'success' ? { kind: 'success', plaintext: v.plaintext } : { kind: v.expect };
    const check = (who, got) => {
      if (want.kind === 'success' && v['content key'] !== undefined) want.key = v['content key'];
      if (got.kind === 'success' && want.key === undefined) delete got.key;
      assert.deepStrictEqual(got, want, who);
    };
    const ids = v.identities.split(' ');
    assert.ok(ids.length > 0 && ids[0] !== '');
    ids.forEach((s, i) => check(`identity ${i + 1}`, outcome(() => open(v.study, env, new Uint8Array(Buffer.from(s, 'hex'))))));
    if (v['content key'] !== undefined) {
      check('openWithKey', outcome(() => openWithKey(v.study, env, Buffer.from(v['content key'], 'hex'))));
    }
    if (v.recipients !== undefined) {
      const keys = v.recipients.split(' ').map(t.parseRecipient);
      const again = t.seal(v.study, Buffer.from(v.plaintext, 'hex'), keys, { contentKey: Buffer.from(v['content key'], 'hex') });
      assert.strictEqual(t.base64(again), v.envelope, 'sealing the inputs again gives another envelope');
    }
  });
}

test('random seals open, for every recipient, in the smallest bucket', () => {
  const ids = [nacl.box.keyPair(), nacl.box.keyPair(), nacl.box.keyPair()];
  const keys = ids.map((k) => k.publicKey);
  for (const size of [0, 1, 1020, 1021, 5000, 20000]) {
    const pt = nacl.randomBytes(size);
    const env = t.seal('some-study', pt, keys);
    assert.strictEqual(env.length, 22 + 1 + 10 + 32 + 32 + 1 + (32 + 48) * 3 + 16 + t.bucketSize(size));
    const key = openWithKey('some-study', env, open('some-study', env, ids[0].secretKey).key).key;
    for (const id of ids) {
      const o = open('some-study', env, id.secretKey);
      assert.deepStrictEqual(Buffer.from(o.plaintext), Buffer.from(pt));
      assert.deepStrictEqual(o.key, key);
    }
    assert.throws(() => open('other-study', env, ids[0].secretKey), (e) => e.kind === 'wrong study');
    assert.throws(() => open('some-study', env, nacl.box.keyPair().secretKey), (e) => e.kind === 'not recipient');
  }
  // Two seals of the same answers differ: a fresh content key.
  const a = t.seal('some-study', Buffer.from('x'), keys), b = t.seal('some-study', Buffer.from('x'), keys);
  assert.notDeepStrictEqual(a, b);
});

test('seal refuses what the format does not allow', () => {
  const k = nacl.box.keyPair().publicKey, k2 = nacl.box.keyPair().publicKey;
  assert.throws(() => t.seal('AB', Buffer.from('x'), [k]));
  assert.throws(() => t.seal('ok-study', Buffer.from('x'), []));
  assert.throws(() => t.seal('ok-study', Buffer.from('x'), new Array(17).fill(0).map(() => nacl.box.keyPair().publicKey)));
  assert.throws(() => t.seal('ok-study', Buffer.from('x'), [k, k2, Uint8Array.from(k)]), /twice/);
  assert.throws(() => t.seal('ok-study', Buffer.from('x'), [k.subarray(0, 31)]));
});

test('public keys are checked like envelope.ParseRecipient', () => {
  const good = readVector(path.join(dir, 'valid.txt')).recipients;
  assert.strictEqual(good.length, 'testimony-pub-'.length + 109);
  assert.strictEqual(t.parseRecipient(good).length, 32);
  const flip = (s, i) => s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1);
  for (const i of [14, 20, 60, 100, good.length - 2]) assert.throws(() => t.parseRecipient(flip(good, i)), /checksum|length/);
  assert.throws(() => t.parseRecipient(flip(good, good.length - 1)));
  assert.throws(() => t.parseRecipient(good.slice(0, -1)));
  assert.throws(() => t.parseRecipient(good + 'a'));
  assert.throws(() => t.parseRecipient(good.replace('testimony-pub-', 'testimony-key-')));
  assert.throws(() => t.parseRecipient(good.toUpperCase()));
  // Keys with a valid checksum that are no keys: X of small order, or not
  // canonical.
  const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
  const encode = (b) => {
    let s = '', bits = 0, acc = 0;
    for (const x of b) {
      acc = (acc << 8) | x; bits += 8;
      while (bits >= 5) { bits -= 5; s += B32[(acc >> bits) & 31]; }
      acc &= (1 << bits) - 1;
    }
    if (bits > 0) s += B32[(acc << (5 - bits)) & 31];
    return s;
  };
  const withChecksum = (x, ed) => {
    const xe = Buffer.concat([x, ed]);
    const sum = nacl.hash(Buffer.concat([Buffer.from('testimony-pub'), xe]));
    return 'testimony-pub-' + encode(Buffer.concat([xe, Buffer.from(sum.slice(0, 4))]));
  };
  const ed = Buffer.alloc(32, 7);
  const x = Buffer.from(nacl.box.keyPair().publicKey);
  assert.strictEqual(t.parseRecipient(withChecksum(x, ed)).length, 32);
  assert.throws(() => t.parseRecipient(withChecksum(Buffer.alloc(32), ed)), /small order/);
  assert.throws(() => t.parseRecipient(withChecksum(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'), ed)), /small order/);
  const top = Buffer.from(x); top[31] |= 0x80;
  assert.throws(() => t.parseRecipient(withChecksum(top, ed)), /canonical/);
  const p = Buffer.alloc(32, 0xff); p[0] = 0xed; p[31] = 0x7f;
  assert.throws(() => t.parseRecipient(withChecksum(p, ed)), /canonical/);
  // The old format: the fix is named.
  const old = Buffer.concat([x, Buffer.from(nacl.hash(Buffer.concat([Buffer.from('testimony-pub'), x])).slice(0, 4))]);
  assert.throws(() => t.parseRecipient('testimony-pub-' + encode(old)), /old format.*researcher pubkey --key FILE/);
});
