// The return passphrase in JavaScript (intake/static/returnkey.js) against
// the vectors of crypto/returnkey: every secret's words in each list, what
// a person may type, the KDF (Argon2id from the vendored argon2id.min.js
// against golang.org/x/crypto's), the keys, the address, tags and
// signatures.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const nacl = require('../../intake/static/nacl.min.js');
const rk = require('../../intake/static/returnkey.js');

const dir = path.join(__dirname, '..', '..', 'crypto', 'returnkey', 'testdata');
const keys = JSON.parse(fs.readFileSync(path.join(dir, 'keys.json'), 'utf8'));
const parses = JSON.parse(fs.readFileSync(path.join(dir, 'parse.json'), 'utf8'));
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));

test('there are vectors', () => {
  assert.ok(keys.length >= 3);
  assert.ok(parses.length >= 20);
});

for (const v of keys) {
  test(`keys: ${v.description}`, () => {
    const secret = unhex(v.secret);
    assert.deepStrictEqual(rk.indices(secret), v.indices);
    for (const [lang, words] of Object.entries(v.words)) {
      assert.strictEqual(rk.format(secret, lang), words, lang);
      assert.strictEqual(hex(rk.parse(words)), v.secret, `${lang} words parse back`);
    }
    const seed = rk.seed(secret, v.study);
    assert.strictEqual(hex(seed), v.seed, 'seed (Argon2id)');
    const k = rk.keys(seed);
    assert.strictEqual(hex(k.X), v.x25519);
    assert.strictEqual(hex(k.Ed), v.ed25519);
    assert.strictEqual(hex(k.tagKey), v['tag key']);
    assert.strictEqual(rk.address(k), v.address);
    for (const t of v.tags) {
      const r = rk.researcher(t.researcher);
      assert.strictEqual(r.fingerprint, t.fingerprint);
      assert.strictEqual(hex(rk.tag(k, t.i, r)), t.tag, `tag(${t.i}, ${t.fingerprint})`);
      if (t.i < rk.MAX_REPLIES) assert.strictEqual(hex(rk.tags(k, r)[t.i]), t.tag);
    }
    const sig = rk.sign(k, unhex(v.message));
    assert.strictEqual(hex(sig), v.signature);
    const signed = Buffer.concat([Buffer.from('testimony-return-v1 signature\0'), Buffer.from(v.message, 'hex')]);
    assert.ok(nacl.sign.detached.verify(new Uint8Array(signed), sig, k.Ed));
    rk.clear(k);
    assert.ok(k.x.every((b) => b === 0) && k.ed.every((b) => b === 0) && k.tagKey.every((b) => b === 0));
  });
}

test('seedAsync gives the seed and reports progress', async () => {
  const v = keys[0];
  const seen = [];
  const seed = await rk.seedAsync(unhex(v.secret), v.study, (p) => seen.push(p));
  assert.strictEqual(hex(seed), v.seed);
  assert.ok(seen.length > 0 && seen[seen.length - 1] === 1);
});

for (const v of parses) {
  test(`parse: ${v.description}`, () => {
    let got;
    try {
      got = { secret: hex(rk.parse(v.input)) };
    } catch (e) {
      assert.ok(e.kind, e.message);
      got = { error: e.kind };
      if (e.kind === 'unknown word') got.position = e.position;
      if (e.kind === 'word count') got.got = e.got;
      assert.ok(!/[^\x20-\x7e]/.test(e.message) && !e.message.includes('secretword'), 'the message repeats nothing typed');
    }
    const want = v.secret ? { secret: v.secret } : { error: v.error };
    if (v.position) want.position = v.position;
    if (v.got !== undefined) want.got = v.got;
    assert.deepStrictEqual(got, want);
  });
}

test('random secrets read back from every list and from mixed words', () => {
  for (let n = 0; n < 200; n++) {
    const s = rk.generate();
    assert.strictEqual(s.length, 9);
    const ws = ['ko', 'zh', 'en'].map((l) => rk.words(s, l));
    for (const w of ws) assert.strictEqual(hex(rk.parse(w.join(' '))), hex(s));
    const mixed = ws[0].map((w, i) => ws[i % 3][i]);
    assert.strictEqual(hex(rk.parse(mixed.join('\u3000'))), hex(s));
  }
});

test('listFor', () => {
  for (const [tag, want] of [['ko', 'ko'], ['ko-KP', 'ko'], ['zh-Hant', 'zh'], ['zh_CN', 'zh'], ['en', 'en'], ['ru', 'en'], ['', 'en'], ['kok', 'en']]) {
    assert.strictEqual(rk.listFor(tag), want, tag);
  }
});

// The same rule as package intake's TestBrowserCodeKeepsNothing: nothing
// that keeps or sends data, runs text as code, or draws other randomness.
test('returnkey.js and reply.js keep and send nothing', () => {
  for (const f of ['returnkey.js', 'reply.js']) {
    const src = fs.readFileSync(path.join(__dirname, '..', '..', 'intake', 'static', f), 'utf8');
    for (const bad of ['localStorage', 'sessionStorage', 'indexedDB', 'document.cookie', 'XMLHttpRequest', 'fetch(', 'WebSocket', 'sendBeacon', 'subtle', 'eval(', 'Function(', 'innerHTML', 'Math.random', 'console.', 'import(']) {
      assert.ok(!src.includes(bad), `${f} uses ${bad}`);
    }
  }
});
