// The rules of package response, in JavaScript. answers-vectors.json holds
// forms read by the Go code (written by the Go test TestJSAnswersVectors,
// which also runs this code on them); the Go test TestJSAnswersMatchGo
// compares the two on the example study. The other tests here pin the
// behaviour a reader can check by eye.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const t = require('../../intake/static/testimony.js');

const fs = require('node:fs');
const path = require('node:path');

function q(id, type, more) {
  return Object.assign({ id, type, required: false, min: null, max: null, maxLen: 0, decimals: 0, choices: [], exclusive: [], rel: null, srel: null, con: null }, more);
}

const model = {
  id: 'js-test',
  version: 'ab'.repeat(32),
  questions: [
    q('used', 'single_choice', { required: true, choices: ['yes', 'no'] }),
    q('where', 'multi_choice', { min: 1, max: 2, choices: ['home', 'work', 'school', 'nowhere'], exclusive: ['nowhere'], rel: "${used} = 'yes'" }),
    q('where_note', 'note', { rel: "selected(${where}, 'work')" }),
    q('year', 'year', { min: 1980, max: 2027, con: ". mod 2 = 1 or ${used} = 'no'" }),
    q('when', 'date_approx', { min: 1990, max: 2027 }),
    q('name', 'short_text', { maxLen: 5 }),
    q('story', 'long_text', { maxLen: 100 }),
    q('count', 'integer', { min: -5 }),
    q('hours', 'decimal', { min: '0', max: '24', decimals: 1 }),
    // In a section shown only to those who used it.
    q('constructor', 'integer', { srel: "${used} = 'yes' and count-selected(${where}) < 2" }),
    q('quote', 'consent'),
    q('consent', 'consent', { required: true }),
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
  const r = t.fromForm(model, { 'q.used': ['no'], 'q.where': ['home'], 'q.constructor': ['1'], 'q.consent': ['yes'] });
  assert.strictEqual(r.problems, null);
  assert.deepStrictEqual(r.answers, { used: ['no'], consent: ['yes'] });
  assert.strictEqual(t.relevant(model, model.questions[1], { used: ['yes'] }), true);
  assert.strictEqual(t.relevant(model, model.questions[1], { used: ['no'] }), false);
  // A condition reads only answers to questions shown.
  assert.strictEqual(t.relevant(model, model.questions[2], { used: ['no'], where: ['work'] }), false);
  assert.strictEqual(t.relevant(model, model.questions[2], { used: ['yes'], where: ['work'] }), true);
  // The section's condition applies to its question, whatever its id.
  assert.deepStrictEqual(problems({ 'q.used': ['yes'], 'q.constructor': ['x'], 'q.consent': ['yes'] }), { constructor: 'not_a_number' });
  assert.deepStrictEqual(t.validate(model, { used: ['no'], constructor: ['1'], consent: ['yes'] }), { constructor: { code: 'not_relevant', limit: '' } });
  // An answer to a note is to no question.
  assert.deepStrictEqual(t.validate(model, { used: ['no'], where_note: ['x'], consent: ['yes'] }), { where_note: { code: 'unknown_question', limit: '' } });
});

test('compound conditions and constraints, as package response reads them', () => {
  const constructor = model.questions[9];
  // The section: ${used} = 'yes' and count-selected(${where}) < 2.
  assert.strictEqual(t.relevant(model, constructor, { used: ['yes'], where: ['home'] }), true);
  assert.strictEqual(t.relevant(model, constructor, { used: ['yes'], where: ['home', 'work'] }), false);
  // An answer to a question not shown reads as empty: where is hidden
  // when used = no, so count-selected(${where}) is 0, but the section
  // is hidden by its first part.
  assert.strictEqual(t.relevant(model, constructor, { used: ['no'], where: ['home', 'work'] }), false);
  // A constraint is not checked on a question not shown or not answered.
  assert.deepStrictEqual(t.validate(model, { used: ['no'], consent: ['yes'] }), null);
  // The parsed expressions are shared, not reparsed: the same result twice.
  assert.deepStrictEqual(problems({ 'q.used': ['yes'], 'q.year': ['2018'], 'q.consent': ['yes'] }), { year: 'constraint' });
  assert.deepStrictEqual(problems({ 'q.used': ['yes'], 'q.year': ['2018'], 'q.consent': ['yes'] }), { year: 'constraint' });
  // A condition that does not parse throws: the page then stays as it is
  // without a script, checked by the server.
  assert.throws(() => t.fromForm({ id: 'x', version: model.version, questions: [q('a', 'short_text', { rel: '${a} == 1' })] }, {}), /column 6/);
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
    [{ 'q.year': ['2018'] }, { year: 'constraint' }], // . mod 2 = 1 or ${used} = 'no'
    [{ 'q.year': ['2018'], 'q.used': ['no'] }, {}],
    [{ 'q.year': ['2100x'] }, { year: 'not_a_number' }], // the answer's own rule first
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
    [{ 'q.quote': ['yes'] }, {}], // an optional consent
    [{ 'q.quote': ['no'] }, { quote: 'not_a_choice' }],
    [{ 'q.where': ['nowhere'] }, {}],
    [{ 'q.where': ['nowhere', 'home'] }, { where: 'exclusive_choice' }],
    [{ 'q.hours': ['02.50'] }, {}],
    [{ 'q.hours': ['2.55'] }, { hours: 'too_many_decimals 1' }],
    [{ 'q.hours': ['24.1'] }, { hours: 'too_large 24' }],
    [{ 'q.hours': ['-0.5'] }, { hours: 'too_small 0' }],
    [{ 'q.hours': ['1e1'] }, { hours: 'not_a_number' }],
    [{ 'q.hours': ['1,5'] }, { hours: 'not_a_number' }],
  ];
  for (const [form, want] of cases) {
    assert.deepStrictEqual(problems({ ...base, ...form }), want, JSON.stringify(form));
  }
});

test('decimals are read as typed and compared exactly', () => {
  const canon = [['0', '0'], ['-0', '0'], ['-0.00', '0'], ['007.50', '7.5'], ['.5', '0.5'], ['5.', '5'], ['-12.340', '-12.34'],
    ['123456789012345', '123456789012345'], ['1234567890123456', null], ['0.000000000000001', '0.000000000000001'],
    ['1e3', null], ['+1', null], ['1.2.3', null], ['', null], ['.', null], ['-', null], ['٣', null]];
  for (const [in_, want] of canon) assert.strictEqual(t.canonicalDecimal(in_), want, in_);
  const order = ['-100', '-10.5', '-10.25', '-1', '-0.5', '0', '0.05', '0.5', '0.51', '1', '9.99', '10', '100.001'];
  for (let i = 0; i < order.length; i++) {
    for (let j = 0; j < order.length; j++) {
      assert.strictEqual(t.compareDecimal(order[i], order[j]), Math.sign(i - j), `${order[i]} vs ${order[j]}`);
    }
  }
  assert.deepStrictEqual(t.fromForm(model, { 'q.used': ['no'], 'q.hours': [' 007.50 '], 'q.consent': ['yes'] }).answers.hours, ['7.5']);
});

test('the shared vectors: the browser reads every form as Go does', () => {
  const v = JSON.parse(fs.readFileSync(path.join(__dirname, 'answers-vectors.json'), 'utf8'));
  assert.ok(v.cases.length > 50);
  let valid = 0;
  for (const [i, c] of v.cases.entries()) {
    const r = t.fromForm(v.model, c.form);
    assert.deepStrictEqual(r.problems, c.problems, `case ${i}: problems`);
    assert.deepStrictEqual(r.answers, c.answers || {}, `case ${i}: answers`);
    if (c.plaintext !== null) {
      valid++;
      assert.strictEqual(t.marshal(v.model, c.lang, r.answers), c.plaintext, `case ${i}: plaintext`);
    }
  }
  assert.ok(valid > 20);
});

test('text is normalized as the plaintext format requires', () => {
  const r = t.fromForm(model, { 'q.used': ['no'], 'q.consent': ['yes'], 'q.story': ['a\r\nb\rc \u1100\u1161'] });
  assert.deepStrictEqual(r.answers.story, ['a\nb\nc \uac00']);
});

test('the plaintext is written exactly as response.Marshal writes it', () => {
  const answers = { used: ['yes'], where: ['home'], story: ['"q" \\ </script> & \u2028\u0001\b\f\n\t 한글 🙂'], consent: ['yes'] };
  const v = 'ab'.repeat(32);
  assert.strictEqual(t.marshal(model, 'ko', answers),
    '{"v":3,"study":"js-test","version":"' + v + '","lang":"ko","answers":{"consent":"yes","story":"\\"q\\" \\\\ </script> & \\u2028\\u0001\\b\\f\\n\\t 한글 🙂","used":"yes","where":["home"]}}');
  assert.strictEqual(t.marshal(model, 'en', {}), '{"v":3,"study":"js-test","version":"' + v + '","lang":"en","answers":{}}');
  assert.throws(() => t.marshal({ id: 'js-test', questions: [] }, 'en', {}), /version/);
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
