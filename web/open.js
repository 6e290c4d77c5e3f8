// open.js opens a testimony envelope (crypto/envelope, version 1) in
// JavaScript. It is for the tests only and is not served: browsers seal,
// only researchers open. Errors carry .kind, one of "malformed",
// "wrong study", "no match", "damaged", as the vectors name them.
'use strict';
const nacl = require('../intake/static/nacl.min.js');

const LABEL = Buffer.from('testimony-envelope-v1\n');

function fail(kind, msg) {
  const e = new Error(kind + ': ' + msg);
  e.kind = kind;
  return e;
}

function hash32(parts) {
  return nacl.hash(Buffer.concat(parts.map((p) => Buffer.from(p)))).slice(0, 32);
}

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
  if (env.length < off + 48 * n) throw fail('malformed', 'truncated in key slots');
  const slots = [];
  for (let i = 0; i < n; i++) slots.push(env.subarray(off + 48 * i, off + 48 * (i + 1)));
  off += 48 * n;
  const size = env.length - off - 16;
  if (size < 1024 || size > 4 << 20 || (size & (size - 1)) !== 0) throw fail('malformed', 'body is not a bucket');
  return { study, eph, commit, slots, raw: env.subarray(0, off), body: env.subarray(off) };
}

function open(studyId, env, secret) {
  const h = parse(env);
  if (h.study !== studyId) throw fail('wrong study', h.study);
  let k = null;
  for (let i = 0; i < h.slots.length && !k; i++) {
    const nonce = new Uint8Array(24);
    nonce[23] = i;
    k = nacl.box.open(new Uint8Array(h.slots[i]), nonce, new Uint8Array(h.eph), secret);
  }
  if (!k) throw fail('no match', 'not sealed to this key');
  const S = Buffer.from(studyId);
  const c = hash32([Buffer.from('testimony-envelope-v1 commitment\0'), [S.length], S, k]);
  if (!nacl.verify(c, new Uint8Array(h.commit))) throw fail('damaged', 'commitment');
  const b = hash32([Buffer.from('testimony-envelope-v1 body\0'), h.raw, k]);
  const q = nacl.secretbox.open(new Uint8Array(h.body), new Uint8Array(24), b);
  if (!q) throw fail('damaged', 'body');
  const l = ((q[0] << 24) >>> 0) + (q[1] << 16) + (q[2] << 8) + q[3];
  if (l > q.length - 4) throw fail('malformed', 'length past bucket');
  let bucket = 1024;
  while (bucket < l + 4) bucket *= 2;
  if (bucket !== q.length) throw fail('malformed', 'not the smallest bucket');
  for (let i = 4 + l; i < q.length; i++) if (q[i] !== 0) throw fail('malformed', 'padding not zero');
  return q.slice(4, 4 + l);
}

module.exports = { open, parse };
