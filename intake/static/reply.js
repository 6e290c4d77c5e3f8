/*
 * reply.js: a person's replies in the browser, as package reply specifies
 * them (its package documentation is the specification; testdata/ the
 * shared vectors).
 *
 * find() looks, among every stored record (the come-back page downloads
 * all of them, the same bytes for everyone), for the tags of the person's
 * replies from each researcher of the study, opens the records found and
 * reads their content. open() opens one record, parseContent() reads its
 * content, accepting only what package reply writes, byte for byte.
 *
 * Nothing is sent or kept. The Diffie-Hellman values and record keys are
 * cleared after use.
 *
 * Needs nacl.min.js and returnkey.js (globals nacl, testimonyReturnKey);
 * under Node it requires them and sets module.exports.
 */
(function (root) {
  'use strict';

  var naclLib = null, rkLib = null;
  function nacl() {
    if (naclLib) return naclLib;
    naclLib = root.nacl || (typeof require === 'function' ? require('./nacl.min.js') : null);
    if (!naclLib) throw new Error('nacl is missing');
    return naclLib;
  }
  function rk() {
    if (rkLib) return rkLib;
    rkLib = root.testimonyReturnKey || (typeof require === 'function' ? require('./returnkey.js') : null);
    if (!rkLib) throw new Error('returnkey.js is missing');
    return rkLib;
  }

  var RECORD_SIZE = 2048, TAG_SIZE = 16, PADDED = RECORD_SIZE - TAG_SIZE - 32 - 16, MAX_CONTENT = PADDED - 2;

  function replyError(kind, message) {
    var e = new Error(message);
    e.kind = kind;
    return e;
  }

  function isZero(b) {
    var acc = 0;
    for (var i = 0; i < b.length; i++) acc |= b[i];
    return acc === 0;
  }

  // open opens a record sealed to the keys k (returnkey.keys) by the
  // researcher r (returnkey.researcher) and returns its content bytes, or
  // throws an error of kind 'malformed' or 'not opened'. dh2, if given,
  // is X25519(x, X_R), computed once per researcher.
  function open(record, k, r, dh2) {
    if (!(record instanceof Uint8Array) || record.length !== RECORD_SIZE) throw replyError('malformed', 'malformed reply record: want ' + RECORD_SIZE + ' bytes');
    var tag = record.subarray(0, TAG_SIZE), E = record.subarray(TAG_SIZE, TAG_SIZE + 32);
    var dh1 = nacl().scalarMult(k.x, E);
    var own = !dh2;
    if (own) dh2 = nacl().scalarMult(k.x, r.x);
    try {
      if (isZero(dh1) || isZero(dh2)) throw replyError('not opened', 'reply record does not open');
      var key = rk().hashTo([rk().utf8('testimony-reply-v1\0'), dh1, dh2, E, r.x, k.X, tag]);
      var q = nacl().secretbox.open(record.subarray(TAG_SIZE + 32), new Uint8Array(24), key);
      key.fill(0);
      if (!q) throw replyError('not opened', 'reply record does not open with these keys from this researcher');
      var n = (q[0] << 8) | q[1], ok = n <= MAX_CONTENT;
      for (var i = 2 + n; i < q.length && ok; i++) ok = q[i] === 0;
      var content = ok ? q.slice(2, 2 + n) : null;
      q.fill(0);
      if (!content) throw replyError('not opened', 'reply record does not open: bad length or padding');
      return content;
    } finally {
      dh1.fill(0);
      if (own) dh2.fill(0);
    }
  }

  // ---- Content: {"v":1,"study","id","lang","text","questions"} ----

  var TYPES = ['single_choice', 'multi_choice', 'short_text', 'long_text', 'year', 'integer'];
  var MAX_QUESTIONS = 10, MAX_CHOICES = 20, MAX_LABEL = 500;
  var CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/;
  var decoder = null;

  function has(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
  function isObject(o) { return o !== null && typeof o === 'object' && !Array.isArray(o); }

  function checkText(s, lines) {
    if (typeof s !== 'string') return 'is not a string';
    if (CONTROL.test(lines ? s.replace(/\n/g, ' ') : s)) return 'holds a control character';
    if (s.normalize('NFC') !== s) return 'is not in Unicode NFC';
    return '';
  }

  function checkLabel(s) {
    if (typeof s !== 'string' || s.trim() === '') return 'is empty';
    if (Array.from(s).length > MAX_LABEL) return 'is too long';
    return checkText(s, false);
  }

  // parseContent reads a record's content, accepting only what package
  // reply's Marshal writes (it is written again from what was read and
  // compared), and returns it as an object: { study, id, lang, text,
  // questions: [{ id, type, label, required, choices: [{ value, label }] }] }.
  function parseContent(bytes) {
    if (!decoder) decoder = new TextDecoder('utf-8', { fatal: true });
    var s, w;
    try { s = decoder.decode(bytes); w = JSON.parse(s); } catch (e) { throw replyError('malformed', 'malformed reply: not JSON in UTF-8'); }
    function bad(why) { throw replyError('malformed', 'malformed reply: ' + why); }
    if (bytes.length > MAX_CONTENT) bad('too large');
    if (!isObject(w)) bad('not an object');
    for (var k in w) if (has(w, k) && ['v', 'study', 'id', 'lang', 'text', 'questions'].indexOf(k) < 0) bad('unknown member');
    if (w.v !== 1) bad('unsupported version');
    if (typeof w.study !== 'string' || !/^[a-z0-9-]{3,64}$/.test(w.study)) bad('study');
    if (typeof w.id !== 'string' || !/^[a-z2-7]{26}$/.test(w.id)) bad('id');
    if (typeof w.lang !== 'string' || !/^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(w.lang) || w.lang.length > 35) bad('language');
    var why = checkText(w.text, true);
    if (why) bad('text ' + why);
    var out = { v: 1, study: w.study, id: w.id, lang: w.lang, text: w.text };
    if (has(w, 'questions')) {
      if (!Array.isArray(w.questions) || w.questions.length === 0 || w.questions.length > MAX_QUESTIONS) bad('questions');
      var ids = {};
      out.questions = w.questions.map(function (q) {
        if (!isObject(q)) bad('question');
        for (var k in q) if (has(q, k) && ['id', 'type', 'label', 'choices', 'required'].indexOf(k) < 0) bad('unknown question member');
        if (typeof q.id !== 'string' || !/^[a-z][a-z0-9_]{0,47}$/.test(q.id) || has(ids, q.id)) bad('question id');
        ids[q.id] = true;
        if (TYPES.indexOf(q.type) < 0) bad('question type');
        var why = checkLabel(q.label);
        if (why) bad('label ' + why);
        var o = { id: q.id, type: q.type, label: q.label };
        var choice = q.type === 'single_choice' || q.type === 'multi_choice';
        if (choice !== has(q, 'choices')) bad('choices');
        if (choice) {
          if (!Array.isArray(q.choices) || q.choices.length < 2 || q.choices.length > MAX_CHOICES) bad('choices');
          var values = {};
          o.choices = q.choices.map(function (c) {
            if (!isObject(c) || Object.keys(c).length !== 2 || typeof c.value !== 'string' || !/^[a-z0-9_]{1,48}$/.test(c.value) || has(values, c.value)) bad('choice');
            values[c.value] = true;
            var why = checkLabel(c.label);
            if (why) bad('choice label ' + why);
            return { value: c.value, label: c.label };
          });
        }
        if (has(q, 'required')) {
          if (q.required !== true) bad('required');
          o.required = true;
        }
        return o;
      });
    } else if (w.text.trim() === '') {
      bad('neither text nor questions');
    }
    if (JSON.stringify(out) !== s) bad('not written as package reply writes it');
    delete out.v;
    if (!out.questions) out.questions = [];
    return out;
  }

  // find looks for the replies to the keys k in records (a Uint8Array, the
  // concatenation of every stored record) from each researcher of rs
  // (returnkey.researcher values, in the study's order), for the study,
  // and returns { found: [{ researcher (index in rs), number, position,
  // content }], unreadable }: as package reply's Find.
  function find(records, k, studyID, rs) {
    if (!(records instanceof Uint8Array) || records.length % RECORD_SIZE !== 0) throw replyError('malformed', 'reply records are not a whole number of records');
    var n = records.length / RECORD_SIZE, byTag = new Map(), p;
    for (p = n - 1; p >= 0; p--) byTag.set(key16(records, p * RECORD_SIZE), p);
    var found = [], unreadable = 0;
    rs.forEach(function (r, ri) {
      var dh2 = null;
      rk().tags(k, r).forEach(function (t, i) {
        var pos = byTag.get(key16(t, 0));
        if (pos === undefined) return;
        if (!dh2) dh2 = nacl().scalarMult(k.x, r.x);
        try {
          var c = parseContent(open(records.subarray(pos * RECORD_SIZE, (pos + 1) * RECORD_SIZE), k, r, dh2));
          if (c.study !== studyID) throw replyError('malformed', 'reply for another study');
          found.push({ researcher: ri, number: i, position: pos, content: c });
        } catch (e) {
          if (!e.kind) throw e;
          unreadable++;
        }
      });
      if (dh2) dh2.fill(0);
    });
    return { found: found, unreadable: unreadable };
  }

  // key16 returns the 16 bytes at off as a string, for a Map key.
  function key16(b, off) { return String.fromCharCode.apply(null, b.subarray(off, off + TAG_SIZE)); }

  var api = { RECORD_SIZE: RECORD_SIZE, MAX_CONTENT: MAX_CONTENT, open: open, parseContent: parseContent, find: find };
  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  } else {
    root.testimonyReply = api;
  }
})(this);
