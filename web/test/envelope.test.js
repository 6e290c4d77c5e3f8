// The envelope in JavaScript against the test vectors of crypto/envelope:
// every vector that carries its inputs is sealed again byte for byte and
// opened; every failure vector is rejected for the reason it names.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const nacl = require('../../intake/static/nacl.min.js');
const t = require('../../intake/static/testimony.js');
const { open } = require('../open.js');

const dir = path.join(__dirname, '..', '..', 'crypto', 'envelope', 'testdata');

function readVector(file) {
  const v = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const i = line.indexOf(': ');
    assert.ok(i > 0, `${file}: malformed line`);
    v[line.slice(0, i)] = line.slice(i + 2);
  }
  return v;
}

const files = fs.readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

test('there are vectors of every kind', () => {
  const kinds = new Set(files.map((f) => readVector(path.join(dir, f)).expect));
  for (const k of ['success', 'no match', 'damaged', 'malformed', 'wrong study']) assert.ok(kinds.has(k), k);
  assert.ok(files.length >= 10);
});

for (const f of files) {
  const v = readVector(path.join(dir, f));
  test(`vector ${f}: ${v.description}`, () => {
    const env = Buffer.from(v.envelope, 'base64');
    const secret = new Uint8Array(Buffer.from(v.identity, 'hex'));
    if (v.expect === 'success') {
      const pt = open(v.study, env, secret);
      assert.strictEqual(Buffer.from(pt).toString('hex'), v.plaintext);
    } else {
      assert.throws(() => open(v.study, env, secret), (e) => e.kind === v.expect);
    }
    if (v['content key'] !== undefined) {
      const keys = v.recipients.split(' ').map(t.parseRecipient);
      const again = t.seal(v.study, Buffer.from(v.plaintext, 'hex'), keys, {
        contentKey: Buffer.from(v['content key'], 'hex'),
        ephemeralSecret: Buffer.from(v['ephemeral secret'], 'hex'),
      });
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
    assert.strictEqual(env.length, 22 + 1 + 10 + 32 + 32 + 1 + 48 * 3 + 16 + t.bucketSize(size));
    for (const id of ids) assert.deepStrictEqual(Buffer.from(open('some-study', env, id.secretKey)), Buffer.from(pt));
    assert.throws(() => open('other-study', env, ids[0].secretKey), (e) => e.kind === 'wrong study');
    assert.throws(() => open('some-study', env, nacl.box.keyPair().secretKey), (e) => e.kind === 'no match');
  }
  // Two seals of the same answers differ: fresh content and ephemeral keys.
  const a = t.seal('some-study', Buffer.from('x'), keys), b = t.seal('some-study', Buffer.from('x'), keys);
  assert.notDeepStrictEqual(a, b);
});

test('seal refuses what the format does not allow', () => {
  const k = nacl.box.keyPair().publicKey;
  assert.throws(() => t.seal('AB', Buffer.from('x'), [k]));
  assert.throws(() => t.seal('ok-study', Buffer.from('x'), []));
  assert.throws(() => t.seal('ok-study', Buffer.from('x'), new Array(17).fill(k)));
});

test('public keys are checked like envelope.ParseRecipient', () => {
  const good = readVector(path.join(dir, 'valid.txt')).recipients;
  assert.strictEqual(t.parseRecipient(good).length, 32);
  const flip = (s, i) => s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1);
  assert.throws(() => t.parseRecipient(flip(good, 20)), /checksum/);
  assert.throws(() => t.parseRecipient(good.slice(0, -1)));
  assert.throws(() => t.parseRecipient(good + 'a'));
  assert.throws(() => t.parseRecipient(good.replace('testimony-pub-', 'testimony-key-')));
  assert.throws(() => t.parseRecipient(good.toUpperCase()));
});
