// Replies in JavaScript (intake/static/reply.js) against the vectors of
// package reply: every record opened as every person from every
// researcher with the outcome Go gets, every content read with Go's
// verdict, every download searched with Go's result.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const rk = require('../../intake/static/returnkey.js');
const reply = require('../../intake/static/reply.js');

const v = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'reply', 'testdata', 'vectors.json'), 'utf8'));
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const researchers = v.researchers.map((r) => rk.researcher(r.public));
const people = v.people.map((p) => rk.keys(unhex(p.seed)));

test('there are vectors of every kind', () => {
  const kinds = new Set(v.records.flatMap((r) => r.outcomes.map((o) => o[2])));
  assert.deepStrictEqual([...kinds].sort(), ['malformed', 'not opened', 'success']);
  assert.ok(v.contents.some((c) => c.valid) && v.contents.some((c) => !c.valid));
  people.forEach((k, i) => assert.strictEqual(rk.address(k), v.people[i].address));
});

for (const r of v.records) {
  test(`record: ${r.description}`, () => {
    const rec = new Uint8Array(Buffer.from(r.record, 'base64'));
    for (const [p, ri, want] of r.outcomes) {
      let got;
      try {
        const c = reply.open(rec, people[p], researchers[ri]);
        assert.strictEqual(Buffer.from(c).toString('utf8'), r.content);
        got = 'success';
      } catch (e) {
        assert.ok(e.kind, e.message);
        got = e.kind;
      }
      assert.strictEqual(got, want, `person ${p}, researcher ${ri}`);
    }
  });
}

for (const c of v.contents) {
  test(`content: ${c.description}`, () => {
    let ok = true;
    try {
      const got = reply.parseContent(new Uint8Array(Buffer.from(c.content, 'utf8')));
      assert.strictEqual(got.study, v.study);
    } catch (e) {
      assert.strictEqual(e.kind, 'malformed', e.message);
      ok = false;
    }
    assert.strictEqual(ok, c.valid);
  });
}

for (const f of v.finds) {
  test(`find: ${f.description}`, () => {
    const download = new Uint8Array(Buffer.concat(f.records.map((i) => Buffer.from(v.records[i].record, 'base64'))));
    const got = reply.find(download, people[f.person], v.study, researchers);
    assert.deepStrictEqual(
      { found: got.found.map((x) => ({ researcher: x.researcher, number: x.number, position: x.position, id: x.content.id })), unreadable: got.unreadable },
      { found: f.found, unreadable: f.unreadable });
  });
}

test('a follow-up reads as questions', () => {
  const rec = new Uint8Array(Buffer.from(v.records[0].record, 'base64'));
  const c = reply.parseContent(reply.open(rec, people[0], researchers[0]));
  assert.strictEqual(c.lang, 'ko');
  assert.deepStrictEqual(c.questions.map((q) => [q.id, q.type, !!q.required, (q.choices || []).length]), [['left_year', 'year', true, 0], ['phone', 'single_choice', false, 2], ['more', 'long_text', false, 0]]);
});
