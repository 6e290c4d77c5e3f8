// The rules of package response, in JavaScript. The Go test
// TestJSAnswersMatchGo compares them with the Go code on many more cases;
// these pin the behaviour a reader can check by eye.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const t = require('../../intake/static/testimony.js');

const model = {
  id: 'js-test',
  questions: [
    { id: 'used', type: 'single_choice', required: true, min: null, max: null, maxLen: 0, choices: ['yes', 'no'], rel: null },
    { id: 'where', type: 'multi_choice', required: false, min: 1, max: 2, maxLen: 0, choices: ['home', 'work', 'school'], rel: { q: 'used', any: ['yes'] } },
    { id: 'year', type: 'year', required: false, min: 1980, max: 2027, maxLen: 0, choices: [], rel: null },
    { id: 'when', type: 'date_approx', required: false, min: 1990, max: 2027, maxLen: 0, choices: [], rel: null },
    { id: 'name', type: 'short_text', required: false, min: null, max: null, maxLen: 5, choices: [], rel: null },
    { id: 'story', type: 'long_text', required: false, min: null, max: null, maxLen: 100, choices: [], rel: null },
    { id: 'count', type: 'integer', required: false, min: -5, max: null, maxLen: 0, choices: [], rel: null },
    { id: 'consent', type: 'consent', required: true, min: null, max: null, maxLen: 0, choices: [], rel: null },
  ],
};

function problems(form) {
  const r = t.fromForm(model, form);
  const out = {};
  for (const [id, p] of Object.entries(r.problems || {})) out[id] = p.limit ? `${p.code} ${p.limit}` : p.code;
  return out;
}

test('required, consent and relevance', () => {
  assert.deepStrictEqual(problems({}), { used: 'required', consent: 'consent_missing' });
  // An answer to a question that is not shown is dropped, as FromForm does.
  const r = t.fromForm(model, { 'q.used': ['no'], 'q.where': ['home'], 'q.consent': ['yes'] });
  assert.strictEqual(r.problems, null);
  assert.deepStrictEqual(r.answers, { used: ['no'], consent: ['yes'] });
  assert.strictEqual(t.relevant(model, model.questions[1], { used: ['yes'] }), true);
  assert.strictEqual(t.relevant(model, model.questions[1], { used: ['no'] }), false);
});

test('each rule', () => {
  const base = { 'q.used': ['yes'], 'q.consent': ['yes'] };
  const cases = [
    [{ 'q.where': ['school', 'home'] }, {}], // sorted into questionnaire order
    [{ 'q.where': ['home', 'work', 'school'] }, { where: 'too_many 2' }],
    [{ 'q.where': ['elsewhere'] }, { where: 'not_a_choice' }],
    [{ 'q.year': ['19'] }, { year: 'too_small 1980' }],
    [{ 'q.year': ['2100'] }, { year: 'too_large 2027' }],
    [{ 'q.year': ['02019'] }, { year: 'not_a_number' }],
    [{ 'q.year': [' 2019 '] }, {}],
    [{ 'q.year': ['２０１９'] }, { year: 'not_a_number' }],
    [{ 'q.count': ['-0'] }, { count: 'not_a_number' }],
    [{ 'q.count': ['-6'] }, { count: 'too_small -5' }],
    [{ 'q.count': ['123456789'] }, {}],
    [{ 'q.count': ['1234567890'] }, { count: 'not_a_number' }],
    [{ 'q.when': ['2019'], 'q.when.when': ['spring'] }, {}],
    [{ 'q.when': ['2019'], 'q.when.when': ['13'] }, { when: 'bad_date' }],
    [{ 'q.when': [''], 'q.when.when': ['05'] }, { when: 'bad_date' }],
    [{ 'q.when': ['1989'] }, { when: 'too_small 1990' }],
    [{ 'q.name': ['다섯글자요'] }, {}],
    [{ 'q.name': ['여섯글자예요'] }, { name: 'too_long 5' }],
    [{ 'q.name': ['🙂🙂🙂🙂🙂'] }, {}], // characters are code points, not UTF-16 units
    [{ 'q.name': ['a\nb'] }, { name: 'not_one_line' }],
    [{ 'q.name': ['a\u0007'] }, { name: 'bad_characters' }],
    [{ 'q.name': ['a\u0085'] }, { name: 'bad_characters' }],
    [{ 'q.name': ['a\ufffd'] }, { name: 'bad_characters' }],
    [{ 'q.name': ['a\ud800'] }, { name: 'bad_characters' }],
    [{ 'q.story': ['line\r\nline\rline\ttab'] }, {}],
    [{ 'q.story': ['   '] }, {}], // blank is unanswered
    [{ 'q.consent': ['no'] }, { consent: 'consent_missing' }],
  ];
  for (const [form, want] of cases) {
    assert.deepStrictEqual(problems({ ...base, ...form }), want, JSON.stringify(form));
  }
});

test('text is normalized as the plaintext format requires', () => {
  const r = t.fromForm(model, { 'q.used': ['no'], 'q.consent': ['yes'], 'q.story': ['a\r\nb\rc \u1100\u1161'] });
  assert.deepStrictEqual(r.answers.story, ['a\nb\nc \uac00']);
});

test('the plaintext is written exactly as response.Marshal writes it', () => {
  const answers = { used: ['yes'], where: ['home'], story: ['"q" \\ </script> & \u2028\u0001\b\f\n\t 한글 🙂'], consent: ['yes'] };
  assert.strictEqual(t.marshal(model, 'ko', answers),
    '{"v":1,"study":"js-test","lang":"ko","answers":{"consent":"yes","story":"\\"q\\" \\\\ </script> & \\u2028\\u0001\\b\\f\\n\\t 한글 🙂","used":"yes","where":["home"]}}');
  assert.strictEqual(t.marshal(model, 'en', {}), '{"v":1,"study":"js-test","lang":"en","answers":{}}');
});

test('Tor Browser is told apart from other browsers by what it reports', () => {
  const offset = new Date().getTimezoneOffset();
  const tor = [
    'Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0',
    'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    'Mozilla/5.0 (Android 10; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0',
  ];
  for (const ua of tor) assert.strictEqual(t.looksLikeTorBrowser({ userAgent: ua }, {}), offset === 0, ua);
  const others = [
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.1',
    'Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/129.0',
  ];
  for (const ua of others) assert.strictEqual(t.looksLikeTorBrowser({ userAgent: ua }, {}), false, ua);
  assert.strictEqual(t.looksLikeTorBrowser({ userAgent: tor[0] }, { chrome: {} }), false);
});
