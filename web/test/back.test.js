// The way back in JavaScript against Go: thread-vectors.json (written by
// the Go test TestJSThreadVectors in package intake) holds plaintexts of
// first testimonies with a return address and of signed messages on a
// thread, and follow-up forms with what response.FollowupFromForm reads
// of them. testimony.js and back.js must produce the same bytes and the
// same answers and problems.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const t = require('../../intake/static/testimony.js');
const rk = require('../../intake/static/returnkey.js');
const reply = require('../../intake/static/reply.js');
const back = require('../../intake/static/back.js');

const v = JSON.parse(fs.readFileSync(path.join(__dirname, 'thread-vectors.json'), 'utf8'));
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const keys = v.seeds.map((s) => rk.keys(unhex(s.seed)));
const model = { id: v.study, version: v.version, questions: [
  { id: 'where', type: 'multi_choice' }, { id: 'tools', type: 'multi_choice' },
] };

test('the addresses of the seeds', () => {
  keys.forEach((k, i) => assert.strictEqual(rk.address(k), v.seeds[i].address));
});

test('a first testimony carries the return address, as response.Marshal writes it', () => {
  assert.ok(v.testimonies.length > 0);
  for (const c of v.testimonies) {
    assert.strictEqual(t.marshal(model, c.lang, c.answers, rk.address(keys[c.seed])), c.plaintext);
  }
  // Declined: no "return" member at all.
  const plain = t.marshal(model, 'en', { online: ['no'] }, null);
  assert.ok(!plain.includes('return'), plain);
});

test('messages on a thread are signed and written as response.SignThread does', () => {
  const kinds = new Set(v.messages.map((m) => m.kind));
  assert.deepStrictEqual([...kinds].sort(), ['addition', 'followup', 'withdrawal']);
  for (const m of v.messages) {
    const got = back.signThread(model, m.lang, { kind: m.kind, reply: m.reply, answers: m.answers, lists: m.lists || {} }, keys[m.seed]);
    assert.strictEqual(got, m.plaintext, m.kind);
  }
  // Another key signs otherwise: the plaintext names its own thread.
  const m = v.messages[1];
  const other = back.signThread(model, m.lang, { kind: m.kind, answers: m.answers }, keys[(m.seed + 1) % keys.length]);
  assert.notStrictEqual(other, m.plaintext);
  assert.throws(() => t.marshalThread(model, 'ko', { kind: 'addition', reply: 'abcdefghijklmnopqrstuvwxyz', thread: 'x', answers: {} }), /followup/);
  assert.throws(() => t.marshalThread(model, 'ko', { kind: 'reply', thread: 'x', answers: {} }), /kind/);
});

test('follow-up forms are read as response.FollowupFromForm reads them', () => {
  const yearMax = new Date().getUTCFullYear() + 1;
  const limits = { yearMin: v.limits.yearMin, yearMax: yearMax, shortMax: v.limits.shortMax, longMax: v.limits.longMax };
  assert.ok(v.followups.length > 4);
  for (const [i, f] of v.followups.entries()) {
    const c = reply.parseContent(new TextEncoder().encode(f.content));
    const fm = back.followupModel(c, limits, v.study, v.version);
    const got = back.followupFromForm(fm, f.form);
    assert.deepStrictEqual(got.answers, f.answers, `case ${i}: answers`);
    assert.deepStrictEqual(got.lists, f.lists, `case ${i}: lists`);
    assert.deepStrictEqual(got.problems, f.problems, `case ${i}: problems`);
  }
});

test('an addition is a long text within the study limit', () => {
  assert.strictEqual(back.additionProblem('덧붙입니다.', 10), null);
  assert.strictEqual(back.additionProblem('   ', 10).code, 'required');
  assert.deepStrictEqual(back.additionProblem('열한 글자는 안 됩니다', 10), { code: 'too_long', limit: '10' });
  assert.strictEqual(back.additionProblem('a\u0007', 10).code, 'bad_characters');
});
