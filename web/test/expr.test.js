// The expression language of package expr, in JavaScript: every case of
// expr/testdata/vectors.json, which the Go tests run too. The Go test
// TestJSAgreesWithGo compares the two on many more generated expressions.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const x = require('../../intake/static/expr.js');

const vectors = JSON.parse(fs.readFileSync(path.join(__dirname, '../../expr/testdata/vectors.json'), 'utf8'));

function source(v) {
  if (typeof v.expr === 'string') return v.expr;
  return v.expr.map(([piece, n]) => piece.repeat(n)).join('');
}

function short(s) { return s.length > 80 ? JSON.stringify(s.slice(0, 60)) + `…(${s.length} code units)` : JSON.stringify(s); }

function message(f) {
  try { f(); } catch (e) {
    if (!(e instanceof x.ExprError)) throw e;
    return e.message;
  }
  return null;
}

test('vectors', () => {
  let parsed = 0, checked = 0, evals = 0;
  vectors.cases.forEach((v, i) => {
    const src = source(v), name = `case ${i} ${short(src)}`;
    if ('error' in v) {
      let e = null;
      const msg = message(() => { e = x.parse(src); });
      assert.strictEqual(msg, v.error, `${name}: parse ${e ? 'succeeded: ' + e : 'failed differently'}`);
      return;
    }
    const e = x.parse(src);
    parsed++;
    const s = String(e);
    if ('string' in v) assert.strictEqual(s, v.string, `${name}: canonical form`);
    assert.strictEqual(String(x.parse(s)), s, `${name}: canonical form parses back`);
    if ('refs' in v) assert.deepStrictEqual(e.refs(), v.refs, `${name}: refs`);
    if ('schema' in v) {
      const msg = message(() => e.check(vectors.schemas[v.schema], v.self || ''));
      assert.strictEqual(msg, 'check' in v ? v.check : null, `${name}: check`);
      if ('check' in v) return;
      checked++;
    }
    (v.evals || []).forEach(([answers, want], j) => {
      assert.strictEqual(e.evaluate({ answers, self: v.self || '' }), want, `${name}: eval ${j} with ${JSON.stringify(answers)}`);
      evals++;
    });
  });
  assert.ok(parsed > 250 && checked > 150 && evals > 300, `too few cases: ${parsed} parsed, ${checked} checked, ${evals} evaluations`);
});

test('the API as the browser uses it', () => {
  const e = x.parse("${left_year} - ${birth_year} >= 18 and selected(${phone_use}, 'own')");
  assert.deepStrictEqual(e.refs(), ['birth_year', 'left_year', 'phone_use']);
  assert.strictEqual(e.usesSelf(), false);
  e.check({ left_year: { kind: 'number' }, birth_year: { kind: 'number' }, phone_use: { kind: 'choice', values: ['own', 'never'] } }, '');
  assert.strictEqual(e.evaluate({ answers: { left_year: ['2010'], birth_year: ['1990'], phone_use: ['own'] } }), true);
  assert.strictEqual(e.evaluate({ answers: {} }), false);
  assert.strictEqual(e.evaluate(), false);

  // The error carries the column apart from the message.
  try {
    x.parse('${a} = = 1');
    assert.fail('parsed');
  } catch (err) {
    assert.ok(err instanceof Error && err instanceof x.ExprError);
    assert.strictEqual(err.column, 8);
    assert.strictEqual(err.msg, 'expected a value, found =');
  }

  // "." needs the question being checked.
  const c = x.parse('. >= 0');
  assert.strictEqual(c.usesSelf(), true);
  assert.throws(() => c.evaluate({ answers: { age: ['1'] } }), /needs the question being checked/);
  assert.strictEqual(c.evaluate({ answers: { age: ['1'] }, self: 'age' }), true);

  // Answers that are not lists of strings count as unanswered, and nothing
  // is read from Object.prototype.
  const u = x.parse("${q} = ''");
  for (const a of [{ q: 'x' }, { q: null }, { q: [1, 2] }, {}, Object.create({ q: ['x'] })]) {
    assert.strictEqual(u.evaluate({ answers: a }), true, JSON.stringify(a));
  }
  assert.strictEqual(x.parse("${hasOwnProperty} = ''").evaluate({ answers: {} }), true);
  assert.throws(() => x.parse("${toString} = ''").check({}, ''), /there is no question toString/);
});

test('lone surrogates are not valid UTF-8', () => {
  assert.strictEqual(message(() => x.parse("'\ud800' = ''")), 'column 2: the expression is not valid UTF-8');
  assert.strictEqual(message(() => x.parse("'🙂\udc00' = ''")), 'column 3: the expression is not valid UTF-8');
});

test('numerals', () => {
  const cases = [['007', 7], ['-0', -0], ['.5', 0.5], ['5.', 5], [' 1\t', 1], ['', NaN], ['1e3', NaN], ['+1', NaN],
    ['0x10', NaN], ['Infinity', NaN], ['1'.repeat(21), NaN], ['1'.repeat(20), 11111111111111111111], ['1' + '0'.repeat(400), Infinity]];
  for (const [s, want] of cases) assert.ok(Object.is(x.numeral(s), want), `numeral(${JSON.stringify(s)}) = ${x.numeral(s)}, want ${want}`);
});
