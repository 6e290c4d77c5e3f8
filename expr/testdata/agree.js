// Runs intake/static/expr.js on cases from expr's Go test TestJSAgreesWithGo
// (JSON on stdin: {schema, cases: [{src, self, answers: [...]}]}) and
// writes what it finds (JSON on stdout: [{error, string, refs, check,
// results, noSelf}]), for the Go test to compare with package expr.
'use strict';
const x = require('../../intake/static/expr.js');

const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const out = input.cases.map((c) => {
  const r = { error: null, string: null, refs: null, check: null, results: null, noSelf: false };
  let e;
  try {
    e = x.parse(c.src);
  } catch (err) {
    if (!(err instanceof x.ExprError)) throw err;
    r.error = err.message;
    return r;
  }
  r.string = String(e);
  r.refs = e.refs();
  r.results = [];
  try {
    e.check(input.schema, c.self);
  } catch (err) {
    if (!(err instanceof x.ExprError)) throw err;
    r.check = err.message;
  }
  for (const a of c.answers) {
    try {
      r.results.push(e.evaluate({ answers: a, self: c.self }));
    } catch (err) {
      if (!/needs the question being checked/.test(err.message)) throw err;
      r.noSelf = true;
      break;
    }
  }
  return r;
});
process.stdout.write(JSON.stringify(out));
