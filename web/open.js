// open.js opens a testimony envelope (crypto/envelope, version 2) in
// JavaScript, step by step as the package documentation specifies. It is
// for the tests only and is not served: browsers seal, only researchers
// open. Errors carry .kind, one of "malformed", "wrong study",
// "not recipient", "inconsistent", "damaged", as the vectors name them.
'use strict';
const nacl = require('../intake/static/nacl.min.js');

const LABEL = Buffer.from('testimony-envelope-v2\n');
const SLOT = 48, ENTRY = 32 + SLOT;

// The X25519 keys of small order, as crypto/envelope lists them.
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

function fail(kind, msg) {
  const e = new Error(kind + ': ' + msg);
  e.kind = kind;
  return e;
}

function hash32(parts) {
  return nacl.hash(Buffer.concat(parts.map((p) => Buffer.from(p)))).slice(0, 32);
}

function nonce(i) {
  const n = new Uint8Array(24);
  n[23] = i;
  return n;
}

function canonical(k) {
  if (k[31] & 0x80) return false;
  if (k[31] === 0x7f && k[0] >= 0xed && k.subarray(1, 31).every((b) => b === 0xff)) return false;
  return true;
}

// parse checks everything that can be checked without a key.
function parse(env) {
  env = Buffer.from(env);
  if (env.length < LABEL.length || !env.subarray(0, LABEL.length).equals(LABEL)) throw fail('malformed', 'missing label');
  let off = LABEL.length;
  if (env.length < off + 1) throw fail('malformed', 'truncated before study id');
  const sl = env[off++];
  if (env.length < off + sl) throw fail('malformed', 'truncated in study id');
  const study = env.subarray(off, off + sl).toString('latin1');
  if (!/^[a-z0-9-]{3,64}$/.test(study)) throw fail('malformed', 'bad study id');
  off += sl;
  if (env.length < off + 65) throw fail('malformed', 'truncated header');
  const eph = env.subarray(off, off + 32), commit = env.subarray(off + 32, off + 64), n = env[off + 64];
  off += 65;
  if (n < 1 || n > 16) throw fail('malformed', 'recipient count');
  if (env.length < off + ENTRY * n) throw fail('malformed', 'truncated in key slots');
  const keys = [], slots = [];
  for (let i = 0; i < n; i++) {
    const key = env.subarray(off + ENTRY * i, off + ENTRY * i + 32);
    if (!canonical(key)) throw fail('malformed', 'recipient key not canonical');
    if (SMALL_ORDER.includes(key.toString('hex'))) throw fail('malformed', 'recipient key of small order');
    if (keys.some((k) => k.equals(key))) throw fail('malformed', 'recipient listed twice');
    keys.push(key);
    slots.push(env.subarray(off + ENTRY * i + 32, off + ENTRY * (i + 1)));
  }
  off += ENTRY * n;
  const size = env.length - off - 16;
  if (size < 1024 || size > 4 << 20 || (size & (size - 1)) !== 0) throw fail('malformed', 'body is not a bucket');
  return { study, eph, commit, keys, slots, raw: env.subarray(0, off), body: env.subarray(off) };
}

// rest runs the steps after the content key k is known, checking every slot
// but skip's (already opened to k).
function rest(h, studyId, k, skip) {
  const e = hash32([Buffer.from('testimony-envelope-v2 ephemeral\0'), k]);
  if (!nacl.verify(nacl.box.keyPair.fromSecretKey(e).publicKey, new Uint8Array(h.eph))) throw fail('inconsistent', 'ephemeral key not derived from the content key');
  for (let j = 0; j < h.keys.length; j++) {
    if (j === skip) continue;
    const w = nacl.box(k, nonce(j), new Uint8Array(h.keys[j]), e);
    if (!nacl.verify(w, new Uint8Array(h.slots[j]))) throw fail('inconsistent', `slot ${j + 1} differs`);
  }
  const S = Buffer.from(studyId);
  const c = hash32([Buffer.from('testimony-envelope-v2 commitment\0'), [S.length], S, k]);
  if (!nacl.verify(c, new Uint8Array(h.commit))) throw fail('damaged', 'commitment');
  const b = hash32([Buffer.from('testimony-envelope-v2 body\0'), h.raw, k]);
  const q = nacl.secretbox.open(new Uint8Array(h.body), new Uint8Array(24), b);
  if (!q) throw fail('damaged', 'body');
  const l = ((q[0] << 24) >>> 0) + (q[1] << 16) + (q[2] << 8) + q[3];
  if (l > q.length - 4) throw fail('malformed', 'length past bucket');
  let bucket = 1024;
  while (bucket < l + 4) bucket *= 2;
  if (bucket !== q.length) throw fail('malformed', 'not the smallest bucket');
  for (let i = 4 + l; i < q.length; i++) if (q[i] !== 0) throw fail('malformed', 'padding not zero');
  return { plaintext: q.slice(4, 4 + l), key: Uint8Array.from(k) };
}

// open opens env as studyId with a 32-byte secret key: {plaintext, key}.
function open(studyId, env, secret) {
  const h = parse(env);
  if (h.study !== studyId) throw fail('wrong study', h.study);
  const R = nacl.box.keyPair.fromSecretKey(secret).publicKey;
  const i = h.keys.findIndex((k) => k.equals(Buffer.from(R)));
  if (i < 0) throw fail('not recipient', 'not sealed to this key');
  const k = nacl.box.open(new Uint8Array(h.slots[i]), nonce(i), new Uint8Array(h.eph), secret);
  if (!k) throw fail('inconsistent', 'own slot does not open');
  return rest(h, studyId, k, i);
}

// openWithKey opens env as studyId with its content key, checking every slot.
function openWithKey(studyId, env, key) {
  const h = parse(env);
  if (h.study !== studyId) throw fail('wrong study', h.study);
  return rest(h, studyId, Uint8Array.from(key), -1);
}

module.exports = { open, openWithKey, parse };
