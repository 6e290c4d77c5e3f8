/*
 * testimony.js: the questionnaire in the browser.
 *
 * With JavaScript on, answers are checked here with the same rules as the
 * server (package response), written as response.Marshal writes them, sealed
 * to every researcher as package crypto/envelope specifies, and only the
 * envelope is posted (to /sealed). Nothing is kept in the browser: no
 * cookies, no storage. Randomness comes from crypto.getRandomValues only,
 * through nacl.randomBytes.
 *
 * Conditions (when a question is shown, what an answer must satisfy) are
 * expressions of package expr, evaluated by expr.js: intake serves the two
 * as one file, expr.js first (its global testimonyExpr).
 *
 * The same file runs under Node for tests (module.exports), where it needs no
 * DOM and requires ./expr.js and ./nacl.min.js.
 */
(function (root) {
  'use strict';

  var naclLib = null;
  function nacl() {
    if (naclLib) return naclLib;
    naclLib = root.nacl || (typeof require === 'function' ? require('./nacl.min.js') : null);
    if (!naclLib) throw new Error('nacl is missing');
    return naclLib;
  }

  var encoder = new TextEncoder();
  function utf8(s) { return encoder.encode(s); }

  function concat(parts) {
    var n = 0, i;
    for (i = 0; i < parts.length; i++) n += parts[i].length;
    var out = new Uint8Array(n), off = 0;
    for (i = 0; i < parts.length; i++) { out.set(parts[i], off); off += parts[i].length; }
    return out;
  }

  // ---- Recipients: "testimony-pub-" + base32(X || Ed || H("testimony-pub" || X || Ed)[0:4]) ----

  var PREFIX = 'testimony-pub-';
  var B32 = 'abcdefghijklmnopqrstuvwxyz234567';

  function base32Decode(s) {
    var out = [], bits = 0, acc = 0;
    for (var i = 0; i < s.length; i++) {
      var v = B32.indexOf(s.charAt(i));
      if (v < 0) throw new Error('malformed public key: bad character');
      acc = (acc << 5) | v; bits += 5;
      if (bits >= 8) { bits -= 8; out.push((acc >> bits) & 0xff); }
      acc &= (1 << bits) - 1;
    }
    if (bits >= 5 || acc !== 0) throw new Error('malformed public key: bad length');
    return new Uint8Array(out);
  }

  // The X25519 keys of small order (0, 1, two of order 8, p-1), as hex.
  var SMALL_ORDER = [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
  ];

  function hex(b) {
    var s = '';
    for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
    return s;
  }

  // checkX25519Key refuses what envelope.ParseRecipient refuses in an
  // X25519 key: a non-canonical encoding and the points of small order.
  function checkX25519Key(x) {
    var ge = x[31] === 0x7f && x[0] >= 0xed;
    for (var i = 1; i < 31 && ge; i++) ge = x[i] === 0xff;
    if ((x[31] & 0x80) !== 0 || ge) throw new Error('malformed public key: X25519 key is not canonical');
    if (SMALL_ORDER.indexOf(hex(x)) >= 0) throw new Error('malformed public key: X25519 key of small order');
  }

  // parseRecipient returns the 32-byte X25519 key of a public key string,
  // checking its prefix, length and checksum and the X25519 key as
  // envelope.ParseRecipient does. The Ed25519 key, which the browser never
  // uses, is checked by the server when it loads the study.
  function parseRecipient(s) {
    if (s.indexOf(PREFIX) !== 0) throw new Error('malformed public key: missing prefix');
    var b = base32Decode(s.slice(PREFIX.length));
    if (b.length === 36) throw new Error('this public key is in the old format; print the current one with `researcher pubkey --key FILE`');
    if (b.length !== 68) throw new Error('malformed public key: bad length');
    var sum = nacl().hash(concat([utf8('testimony-pub'), b.subarray(0, 64)]));
    for (var i = 0; i < 4; i++) if (sum[i] !== b[64 + i]) throw new Error('malformed public key: checksum mismatch');
    var x = b.slice(0, 32);
    checkX25519Key(x);
    return x;
  }

  // ---- The envelope, version 2 (see crypto/envelope's package doc) ----

  var LABEL = 'testimony-envelope-v2\n';
  var MIN_BUCKET = 1024, MAX_BUCKET = 4 << 20, MAX_RECIPIENTS = 16;

  function bucketSize(n) {
    var b = MIN_BUCKET;
    while (b < n + 4) b *= 2;
    return b;
  }

  function checkStudyID(id) {
    if (!/^[a-z0-9-]{3,64}$/.test(id)) throw new Error('study id must be 3 to 64 characters of a-z, 0-9 and -');
  }

  // hash32 returns H(parts)[0:32] and clears the rest of the hash.
  function hash32(parts) {
    var input = concat(parts), h = nacl().hash(input), out = h.slice(0, 32);
    input.fill(0); h.fill(0);
    return out;
  }

  function ephemeral(k) {
    return hash32([utf8('testimony-envelope-v2 ephemeral'), [0], k]);
  }

  function commitment(S, k) {
    return hash32([utf8('testimony-envelope-v2 commitment'), [0], [S.length], S, k]);
  }

  function bodyKey(hd, k) {
    return hash32([utf8('testimony-envelope-v2 body'), [0], hd, k]);
  }

  // seal seals plaintext (bytes) for the study to the recipients (32-byte
  // X25519 keys from parseRecipient, distinct, in the study's order). The
  // content key is the only random draw; fixed, for tests only, gives it
  // ({contentKey}) instead.
  function seal(studyId, plaintext, recipients, fixed) {
    var n = nacl();
    checkStudyID(studyId);
    if (recipients.length < 1 || recipients.length > MAX_RECIPIENTS) throw new Error('need 1 to 16 recipients');
    var seen = {};
    for (var j = 0; j < recipients.length; j++) {
      if (recipients[j].length !== 32) throw new Error('recipient key must be 32 bytes');
      if (seen[hex(recipients[j])]) throw new Error('a recipient is listed twice');
      seen[hex(recipients[j])] = true;
    }
    if (plaintext.length > MAX_BUCKET - 4) throw new Error('plaintext too large');
    var k = fixed ? Uint8Array.from(fixed.contentKey) : n.randomBytes(32);
    var e = ephemeral(k);
    var S = utf8(studyId);
    var E = n.box.keyPair.fromSecretKey(e).publicKey;
    var parts = [utf8(LABEL), [S.length], S, E, commitment(S, k), [recipients.length]];
    for (var i = 0; i < recipients.length; i++) {
      var nonce = new Uint8Array(24);
      nonce[23] = i;
      parts.push(recipients[i], n.box(k, nonce, recipients[i], e));
    }
    var hd = concat(parts);
    var q = new Uint8Array(bucketSize(plaintext.length));
    var len = plaintext.length;
    q[0] = len >>> 24; q[1] = (len >>> 16) & 0xff; q[2] = (len >>> 8) & 0xff; q[3] = len & 0xff;
    q.set(plaintext, 4);
    var B = bodyKey(hd, k);
    var body = n.secretbox(q, new Uint8Array(24), B);
    k.fill(0); e.fill(0); q.fill(0); B.fill(0);
    return concat([hd, body]);
  }

  function base64(bytes) {
    var s = '';
    for (var i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  // ---- Answers: the rules of package response ----
  //
  // A study model is {id, version, questions: [q]}, q = {id, type,
  // required, min, max (null for none; for year and date_approx with the
  // defaults applied; numbers, but canonical decimal strings for decimal),
  // maxLen, decimals (0 for no bound), choices: [values], exclusive:
  // [values], rel, srel, con}; rel (the question's condition), srel (its
  // section's) and con (its constraint) are expressions of package expr,
  // as the study file writes them, or null. Answers map question ids to
  // arrays of strings. Question ids may be any [a-z][a-z0-9_]*, such as
  // "constructor": objects are read through own() only.

  // own returns obj[key] if obj has it as its own property.
  function own(obj, key) {
    return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
  }

  // isSpace is Go's unicode.IsSpace.
  function isSpace(c) {
    return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0x85 || c === 0xa0 || c === 0x1680 ||
      (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
  }

  // trimSpace is Go's strings.TrimSpace.
  function trimSpace(s) {
    var a = 0, b = s.length;
    while (a < b && isSpace(s.charCodeAt(a))) a++;
    while (b > a && isSpace(s.charCodeAt(b - 1))) b--;
    return s.slice(a, b);
  }

  function normalizeText(v) {
    return v.replace(/\r\n/g, '\n').replace(/\r/g, '\n').normalize('NFC');
  }

  function question(model, id) {
    for (var i = 0; i < model.questions.length; i++) if (model.questions[i].id === id) return model.questions[i];
    return null;
  }

  // ---- Conditions: expressions of package expr, evaluated by expr.js ----

  var exprLib = null;
  function exprs() {
    if (exprLib) return exprLib;
    exprLib = root.testimonyExpr || (typeof require === 'function' ? require('./expr.js') : null);
    if (!exprLib) throw new Error('expr.js is missing');
    return exprLib;
  }

  // compiled caches parsed expressions by their text: a page has few.
  var compiled = new Map();
  function compile(src) {
    var e = compiled.get(src);
    if (!e) {
      e = exprs().parse(src);
      compiled.set(src, e);
    }
    return e;
  }

  // holds is config.Condition.Holds: a relevance condition (null holds),
  // evaluated on answers to the questions shown so far.
  function holds(src, answers) {
    return !src || compile(src).evaluate({ answers: answers, self: '' });
  }

  // accepts is config.Condition.Accepts: the constraint of q (null
  // accepts), "." standing for the answer to q in answers.
  function accepts(q, answers) {
    return !q.con || compile(q.con).evaluate({ answers: answers, self: q.id });
  }

  // walk is response's walk: for each question in order, whether it is
  // shown (its section's condition and its own hold on the answers to the
  // earlier questions shown), and those answers, this one's included.
  function walk(model, answers, fn) {
    var visible = {};
    model.questions.forEach(function (q) {
      var ok = holds(q.srel, visible) && holds(q.rel, visible);
      var v = own(answers, q.id);
      if (ok && v !== undefined) visible[q.id] = v;
      fn(q, ok, visible);
    });
  }

  // shown is response.Shown: {id: true|false} for every question.
  function shown(model, answers) {
    var out = {};
    walk(model, answers, function (q, ok) { out[q.id] = ok; });
    return out;
  }

  function relevant(model, q, answers) {
    return own(shown(model, answers), q.id) === true;
  }

  // canonicalDecimal is config.CanonicalDecimal: a number as typed (an
  // optional "-", digits and at most one ".") to its canonical text, or
  // null.
  function canonicalDecimal(s) {
    var neg = s.charAt(0) === '-';
    if (neg) s = s.slice(1);
    var dot = s.indexOf('.');
    var ip = dot < 0 ? s : s.slice(0, dot), fp = dot < 0 ? '' : s.slice(dot + 1);
    if ((ip === '' && fp === '') || !/^[0-9]*$/.test(ip) || !/^[0-9]*$/.test(fp)) return null;
    ip = ip.replace(/^0+/, '');
    fp = fp.replace(/0+$/, '');
    if (ip.length + fp.length > MAX_DECIMAL_DIGITS) return null;
    if (ip === '') ip = '0';
    var out = fp === '' ? ip : ip + '.' + fp;
    return neg && out !== '0' ? '-' + out : out;
  }

  var MAX_DECIMAL_DIGITS = 15;

  // compareDecimal is config.CompareDecimal on canonical decimals, exact.
  function compareDecimal(a, b) {
    var an = a.charAt(0) === '-', bn = b.charAt(0) === '-';
    if (an !== bn) return an ? -1 : 1;
    if (an) return compareMagnitude(b.slice(1), a.slice(1));
    return compareMagnitude(a, b);
  }

  function compareMagnitude(a, b) {
    var ad = a.indexOf('.'), bd = b.indexOf('.');
    var ai = ad < 0 ? a : a.slice(0, ad), af = ad < 0 ? '' : a.slice(ad + 1);
    var bi = bd < 0 ? b : b.slice(0, bd), bf = bd < 0 ? '' : b.slice(bd + 1);
    if (ai.length !== bi.length) return ai.length < bi.length ? -1 : 1;
    if (ai !== bi) return ai < bi ? -1 : 1;
    if (af !== bf) return af < bf ? -1 : 1;
    return 0;
  }

  // fromForm reads answers from form fields ({name: [values]}, as a browser
  // would post them) as response.FromForm does.
  function fromForm(model, form) {
    var answers = {};
    function get(name) { return own(form, name) || []; }
    model.questions.forEach(function (q) {
      var vals = get('q.' + q.id), answer = [];
      switch (q.type) {
        case 'note':
          return;
        case 'multi_choice':
          vals.forEach(function (v) { if (v !== '' && answer.indexOf(v) < 0) answer.push(v); });
          answer.sort(function (a, b) { return q.choices.indexOf(a) - q.choices.indexOf(b); });
          break;
        case 'short_text': case 'long_text':
          if (vals.length === 1 && trimSpace(vals[0]) !== '') answer = [normalizeText(vals[0])];
          break;
        case 'date_approx':
          var year = vals.length === 1 ? trimSpace(vals[0]) : '';
          var when = trimSpace(get('q.' + q.id + '.when')[0] || '');
          if (year !== '' && when !== '') answer = [year + '-' + when];
          else if (year !== '') answer = [year];
          else if (when !== '') answer = ['-' + when];
          break;
        case 'decimal':
          if (vals.length === 1 && trimSpace(vals[0]) !== '') {
            var d = trimSpace(vals[0]);
            answer = [canonicalDecimal(d) || d];
          }
          break;
        default:
          if (vals.length === 1 && trimSpace(vals[0]) !== '') answer = [trimSpace(vals[0])];
      }
      // answers holds only answers to questions shown, so far.
      if (answer.length > 0 && holds(q.srel, answers) && holds(q.rel, answers)) answers[q.id] = answer;
    });
    return { answers: answers, problems: validate(model, answers) };
  }

  // validate returns {id: {code, limit}} for every answer that breaks the
  // rules, or null, as response.Validate does: a constraint is checked on
  // a well-formed answer to a question shown.
  function validate(model, answers) {
    var ps = {}, any = false;
    Object.keys(answers).forEach(function (id) {
      var q = question(model, id);
      if (!q || q.type === 'note') { ps[id] = problem('unknown_question'); any = true; }
    });
    walk(model, answers, function (q, ok, visible) {
      if (q.type === 'note') return;
      var vals = own(answers, q.id), answered = vals !== undefined;
      if (!ok) {
        if (answered) { ps[q.id] = problem('not_relevant'); any = true; }
        return;
      }
      if (!answered || vals.length === 0) {
        if (q.required) { ps[q.id] = problem(q.type === 'consent' ? 'consent_missing' : 'required'); any = true; }
        return;
      }
      var p = check(q, vals) || (accepts(q, visible) ? null : problem('constraint'));
      if (p) { ps[q.id] = p; any = true; }
    });
    return any ? ps : null;
  }

  // problem is response.Problem: limit is the bound crossed, as text, or ''.
  function problem(code, limit) { return { code: code, limit: limit === undefined ? '' : String(limit) }; }

  // parseInteger is response.parseInt: decimal digits, no leading zeros, at
  // most nine digits, "-" allowed if signed but not "-0".
  function parseInteger(s, signed) {
    var digits = s;
    if (signed && digits.charAt(0) === '-') digits = digits.slice(1);
    if (digits === '' || digits.length > 9 || (digits.length > 1 && digits.charAt(0) === '0')) return null;
    if (!/^[0-9]+$/.test(digits)) return null;
    if (s === '-0') return null;
    return Number(s);
  }

  var LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(^|[^\ud800-\udbff])[\udc00-\udfff]/;

  function check(q, vals) {
    if (q.type !== 'multi_choice' && vals.length !== 1) return problem('too_many', 1);
    var v = vals[0], n;
    switch (q.type) {
      case 'single_choice':
        if (q.choices.indexOf(v) < 0) return problem('not_a_choice');
        break;
      case 'multi_choice':
        var exclusive = false;
        for (var i = 0; i < vals.length; i++) {
          if (q.choices.indexOf(vals[i]) < 0) return problem('not_a_choice');
          if (i > 0 && q.choices.indexOf(vals[i - 1]) >= q.choices.indexOf(vals[i])) return problem('not_a_choice');
          if ((q.exclusive || []).indexOf(vals[i]) >= 0) exclusive = true;
        }
        if (exclusive && vals.length > 1) return problem('exclusive_choice');
        if (q.min !== null && vals.length < q.min) return problem('too_few', q.min);
        if (q.max !== null && vals.length > q.max) return problem('too_many', q.max);
        break;
      case 'short_text': case 'long_text':
        if (LONE_SURROGATE.test(v) || v.normalize('NFC') !== v || v.indexOf('\r') >= 0) return problem('bad_characters');
        for (var j = 0; j < v.length; j++) {
          var c = v.charCodeAt(j);
          if (c === 0x0a && q.type === 'short_text') return problem('not_one_line');
          if (((c <= 0x1f || (c >= 0x7f && c <= 0x9f)) && c !== 0x0a && c !== 0x09) || c === 0xfffd) return problem('bad_characters');
        }
        if (v === '' || trimSpace(v) === '') return problem('required');
        if (Array.from(v).length > q.maxLen) return problem('too_long', q.maxLen);
        break;
      case 'year': case 'integer':
        n = parseInteger(v, q.type === 'integer');
        if (n === null) return problem('not_a_number');
        if (q.min !== null && n < q.min) return problem('too_small', q.min);
        if (q.max !== null && n > q.max) return problem('too_large', q.max);
        break;
      case 'decimal':
        if (canonicalDecimal(v) !== v) return problem('not_a_number');
        var dot = v.indexOf('.');
        if (q.decimals > 0 && dot >= 0 && v.length - dot - 1 > q.decimals) return problem('too_many_decimals', q.decimals);
        if (q.min !== null && compareDecimal(v, q.min) < 0) return problem('too_small', q.min);
        if (q.max !== null && compareDecimal(v, q.max) > 0) return problem('too_large', q.max);
        break;
      case 'consent':
        if (v !== 'yes') return problem(q.required ? 'consent_missing' : 'not_a_choice');
        break;
      case 'date_approx':
        var dash = v.indexOf('-');
        var year = dash < 0 ? v : v.slice(0, dash), part = dash < 0 ? '' : v.slice(dash + 1);
        n = parseInteger(year, false);
        if (n === null || year.length !== 4) return problem('bad_date');
        if (n < q.min) return problem('too_small', q.min);
        if (n > q.max) return problem('too_large', q.max);
        if (dash >= 0 && WHEN.indexOf(part) < 0) return problem('bad_date');
        break;
      default:
        return problem('not_a_choice');
    }
    return null;
  }

  var WHEN = ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12', 'spring', 'summer', 'autumn', 'winter'];

  // jsonString is Go's encoding/json for a string with HTML escaping off:
  // JSON.stringify escapes the same characters the same way, except U+2028
  // and U+2029, which Go escapes too.
  function jsonString(s) {
    if (LONE_SURROGATE.test(s)) throw new Error('text is not valid Unicode');
    return JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  }

  // marshal writes the version 3 plaintext of a first testimony exactly
  // as response.Marshal does; ret is the person's return address
  // (returnkey.js's address()), or null if they declined one.
  function marshal(model, lang, answers, ret) {
    if (!/^[0-9a-f]{64}$/.test(model.version || '')) throw new Error('the study version is missing');
    return '{"v":3,"study":' + jsonString(model.id) + ',"version":' + jsonString(model.version) +
      ',"lang":' + jsonString(lang) + (ret ? ',"return":' + jsonString(ret) : '') + ',"answers":' + answersJSON(model, answers, null) + '}';
  }

  // answersJSON writes answers as response does: ids sorted, an array for
  // a multi_choice question of the model (or an id in lists), else a
  // string.
  function answersJSON(model, answers, lists) {
    var ids = Object.keys(answers).filter(function (id) { return answers[id].length > 0; }).sort();
    var members = ids.map(function (id) {
      var q = model ? question(model, id) : null, vals = answers[id];
      if ((q && q.type === 'multi_choice') || (lists && own(lists, id))) return jsonString(id) + ':[' + vals.map(jsonString).join(',') + ']';
      if (vals.length !== 1) throw new Error('question ' + id + ' has ' + vals.length + ' values');
      return jsonString(id) + ':' + jsonString(vals[0]);
    });
    return '{' + members.join(',') + '}';
  }

  // marshalThread writes a message on a thread exactly as
  // response.MarshalMessage does: m is {kind: 'followup'|'addition'|
  // 'withdrawal', thread (the return address), reply (a followup's reply
  // id), answers ({id: [values]}), lists ({id: true} for the answers
  // written as arrays), sig (64 bytes, or null to write the bytes that
  // are signed)}.
  function marshalThread(model, lang, m) {
    if (!/^[0-9a-f]{64}$/.test(model.version || '')) throw new Error('the study version is missing');
    if (['followup', 'addition', 'withdrawal'].indexOf(m.kind) < 0) throw new Error('unknown kind of message');
    if ((m.kind === 'followup') !== !!m.reply) throw new Error('a followup, and only a followup, names a reply');
    return '{"v":3,"study":' + jsonString(model.id) + ',"version":' + jsonString(model.version) +
      ',"lang":' + jsonString(lang) + ',"kind":' + jsonString(m.kind) + ',"thread":' + jsonString(m.thread) +
      (m.reply ? ',"reply":' + jsonString(m.reply) : '') + ',"answers":' + answersJSON(null, m.answers || {}, m.lists || {}) +
      (m.sig ? ',"sig":"' + base64(m.sig) + '"' : '') + '}';
  }

  var api = {
    parseRecipient: parseRecipient, seal: seal, bucketSize: bucketSize, base64: base64,
    fromForm: fromForm, validate: validate, relevant: relevant, shown: shown, marshal: marshal, marshalThread: marshalThread,
    canonicalDecimal: canonicalDecimal, compareDecimal: compareDecimal,
    normalizeText: normalizeText, trimSpace: trimSpace, utf8: utf8, looksLikeTorBrowser: looksLikeTorBrowser
  };

  // ---- The page ----

  // looksLikeTorBrowser guesses from what Tor Browser's fingerprinting
  // resistance makes every copy report: a Firefox user agent whose version
  // ends in ".0" and matches its rv, the UTC time zone, no Chrome objects.
  // It is a guess made here only; it is never sent anywhere.
  function looksLikeTorBrowser(nav, win) {
    var m = /^Mozilla\/5\.0 \([^)]*; rv:(\d+)\.0\) Gecko\/[0-9.]+ Firefox\/(\d+)\.0$/.exec(nav.userAgent);
    if (!m || m[1] !== m[2]) return false;
    if (typeof win.chrome !== 'undefined') return false;
    return new Date().getTimezoneOffset() === 0;
  }

  function $(id) { return document.getElementById(id); }

  function show(id) { var el = $(id); if (el) el.hidden = false; }

  // arrivedByHistory reports whether this page was reached with Back or
  // Forward rather than by a link or a form.
  function arrivedByHistory() {
    try {
      var nav = performance.getEntriesByType('navigation')[0];
      if (nav) return nav.type === 'back_forward';
      return performance.navigation.type === 2;
    } catch (e) {
      return false;
    }
  }

  // The quick exit must leave nothing of the site one Back press away. So
  // every move within the site replaces the current page in the history
  // (the site takes one entry, which the quick exit replaces in turn), and
  // a page of the site reached with Back or Forward (from a page the
  // person went to afterwards) leaves for the exit page at once. Every
  // page's title is the same neutral word.
  function guardHistory() {
    if (arrivedByHistory()) { location.replace('/exit'); return false; }
    window.addEventListener('pageshow', function (ev) { if (ev.persisted) location.replace('/exit'); });
    document.addEventListener('click', function (ev) {
      var a = ev.target && ev.target.closest ? ev.target.closest('a[href]') : null;
      if (!a || ev.defaultPrevented || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
      if (a.origin !== location.origin) return;
      ev.preventDefault();
      location.replace(a.href);
    });
    return true;
  }

  // notes shows the notes about JavaScript on the page (again, after the
  // page's body was replaced).
  function notes() {
    show('js-note');
    if (!looksLikeTorBrowser(navigator, window)) show('js-not-tor');
  }

  function init() {
    if (!guardHistory()) return;
    notes();
    var start = $('start');
    if (start && start.getAttribute('data-js')) start.href = start.getAttribute('data-js');
    // The first step for browsers without JavaScript sends this one to the
    // one-page form.
    var form = $('tf'), to = $('to-all') || form;
    if (to && to.getAttribute('data-all-url')) { location.replace(to.getAttribute('data-all-url')); return; }
    if (form && form.getAttribute('data-mode') === 'all') {
      var model;
      try {
        model = modelOf(form);
      } catch (err) {
        return; // the server checks the answers, as without a script
      }
      enhance(form, model);
    }
  }

  function modelOf(form) {
    var qs = [];
    // Questions are fieldsets; notes, text blocks.
    var sets = form.querySelectorAll('[data-q]');
    for (var i = 0; i < sets.length; i++) {
      var f = sets[i], d = function (k) { return f.getAttribute('data-' + k); };
      // Bounds of decimal questions stay text, compared exactly.
      var num = function (k) { var v = d(k); return v === null || v === '' ? null : d('type') === 'decimal' ? v : Number(v); };
      var choices = [], exclusive = [], inputs = f.querySelectorAll('input[type=radio],input[type=checkbox]');
      for (var j = 0; j < inputs.length; j++) {
        if (d('type') === 'consent') continue;
        choices.push(inputs[j].value);
        if (inputs[j].getAttribute('data-exclusive')) exclusive.push(inputs[j].value);
      }
      qs.push({
        id: d('q'), type: d('type'), required: d('req') === '1', min: num('min'), max: num('max'),
        maxLen: num('maxlen') || 0, decimals: Number(d('decimals') || 0), choices: choices, exclusive: exclusive,
        rel: d('rel'), srel: d('srel'), con: d('con'), conMsg: d('con-msg'), el: f
      });
      // Parse each condition now: one this script cannot read leaves the
      // page as it is without a script, checked by the server.
      [d('rel'), d('srel'), d('con')].forEach(function (src) { if (src) compile(src); });
    }
    var v = form.elements.v;
    return { id: form.getAttribute('data-study'), version: v ? v.value : '', lang: form.getAttribute('data-lang'), questions: qs };
  }

  // fieldsOf returns the form's answer fields as the browser would post them.
  function fieldsOf(form) {
    var out = {};
    for (var i = 0; i < form.elements.length; i++) {
      var el = form.elements[i];
      if (!el.name || el.name.indexOf('q.') !== 0) continue;
      if ((el.type === 'radio' || el.type === 'checkbox') && !el.checked) continue;
      (out[el.name] = out[el.name] || []).push(el.value);
    }
    return out;
  }

  function enhance(form, model) {
    var review = $('review'), list = $('review-list'), status = $('seal-status');
    var recipients;
    var sections = form.querySelectorAll('section.sec');
    function update() {
      var res = fromForm(model, fieldsOf(form)), visible = shown(model, res.answers);
      model.questions.forEach(function (q) { q.el.hidden = !visible[q.id]; });
      // A section shows while one of its questions or notes does: its
      // condition holds, and its heading has something under it.
      for (var i = 0; i < sections.length; i++) {
        sections[i].hidden = !sections[i].querySelector('[data-q]:not([hidden])');
      }
      return res;
    }
    var notes = form.querySelectorAll('.cond');
    for (var i = 0; i < notes.length; i++) notes[i].hidden = true;
    form.addEventListener('change', function (ev) { exclusive(ev.target); update(); });
    form.addEventListener('input', update);
    update();

    // exclusive keeps an exclusive choice ("none of these") alone: ticking
    // it unticks the question's other choices, and ticking another unticks
    // it, as the rules require (exclusive_choice).
    function exclusive(box) {
      if (!box || box.type !== 'checkbox' || !box.checked) return;
      var set = box.closest('fieldset[data-type="multi_choice"]');
      if (!set) return;
      var alone = !!box.getAttribute('data-exclusive'), boxes = set.querySelectorAll('input[type=checkbox]');
      for (var i = 0; i < boxes.length; i++) {
        if (boxes[i] !== box && (alone || boxes[i].getAttribute('data-exclusive'))) boxes[i].checked = false;
      }
    }

    function message(q, p) {
      if (p.code === 'constraint' && q.conMsg) return q.conMsg;
      if (p.code === 'not_a_number' && q.type === 'decimal') return form.getAttribute('data-p-not_a_decimal');
      var t = form.getAttribute('data-p-' + p.code) || p.code, choice = '';
      if (p.code === 'exclusive_choice') {
        var ex = q.el.querySelector('input[data-exclusive]:checked');
        if (ex) choice = ex.parentNode.textContent.trim();
      }
      return t.replace('{n}', String(p.limit)).replace('{choice}', choice);
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault(); // answers never leave the browser unsealed
      var res = update();
      var first = null;
      model.questions.forEach(function (q) {
        var p = res.problems && res.problems[q.id], el = q.el.querySelector('.problem');
        q.el.classList.toggle('bad', !!p);
        if (p) {
          if (!el) {
            el = document.createElement('p');
            el.className = 'problem';
            el.setAttribute('role', 'alert');
            q.el.insertBefore(el, q.el.querySelector('legend').nextSibling);
          }
          el.textContent = message(q, p);
          if (!first) first = q.el;
        } else if (el) {
          el.parentNode.removeChild(el);
        }
      });
      $('summary').hidden = !first;
      if (first) { first.scrollIntoView(); return; }
      showReview(res.answers);
    });

    function answerText(q, vals) {
      var parts = [];
      if (q.type === 'single_choice' || q.type === 'multi_choice' || q.type === 'consent') {
        var inputs = q.el.querySelectorAll('input:checked');
        for (var i = 0; i < inputs.length; i++) parts.push(inputs[i].parentNode.textContent.trim());
      } else if (q.type === 'date_approx') {
        parts.push(q.el.querySelector('input').value.trim());
        var sel = q.el.querySelector('select');
        if (sel.value) parts.push(sel.options[sel.selectedIndex].textContent);
      } else {
        parts.push(vals[0]);
      }
      return parts.join(q.type === 'multi_choice' ? ' / ' : ' ');
    }

    function showReview(answers) {
      while (list.firstChild) list.removeChild(list.firstChild);
      model.questions.forEach(function (q) {
        if (!answers[q.id]) return;
        var dt = document.createElement('dt'), dd = document.createElement('dd');
        dt.textContent = q.el.querySelector('.label').textContent;
        dd.textContent = answerText(q, answers[q.id]);
        list.appendChild(dt); list.appendChild(dd);
      });
      form.hidden = true;
      review.hidden = false;
      review.pending = answers;
      status.textContent = '';
      window.scrollTo(0, 0);
    }

    $('review-change').addEventListener('click', function () {
      review.hidden = true;
      form.hidden = false;
      review.pending = null;
    });

    // The return passphrase, once made: kept to send again after a
    // failure, so that the words shown are those of what was stored.
    var pending = null;

    $('review-send').addEventListener('click', function () {
      var btn = this, answers = review.pending;
      if (!answers) return;
      btn.disabled = true;
      var declined = !!($('noreturn') && $('noreturn').checked);
      var ready = declined ? Promise.resolve(null) : pending ? Promise.resolve(pending) :
        makeReturn(model, function (f) { status.textContent = form.getAttribute('data-preparing').replace('{n}', String(Math.floor(100 * f))); });
      ready.then(function (ret) {
        if (ret) pending = ret;
        sealAndSend(ret);
      }, function () {
        status.textContent = form.getAttribute('data-words-failed');
        btn.disabled = false;
      });

      function sealAndSend(ret) {
        status.textContent = form.getAttribute('data-sealing');
        // sealTo seals the answers, as the plaintext of the version this
        // page shows, with the return address if there is one, to keys
        // (the page's researchers, or those the server names when they
        // changed since it was made), which later sends use too.
        function sealTo(keys) {
          var pt = null;
          try {
            recipients = keys.split(' ').map(parseRecipient);
            form.setAttribute('data-recipients', keys);
            pt = utf8(marshal(model, model.lang, answers, ret ? ret.address : null));
            return base64(seal(model.id, pt, recipients));
          } finally {
            if (pt) pt.fill(0);
          }
        }
        setTimeout(function () {
          var env;
          try {
            env = sealTo(form.getAttribute('data-recipients'));
          } catch (err) {
            status.textContent = form.getAttribute('data-seal-failed');
            btn.disabled = false;
            return;
          }
          send(env, function (why) {
            // Nothing was stored: say why. The answers are still here, to
            // send again.
            status.textContent = why || form.getAttribute('data-send-failed');
            btn.disabled = false;
          }, sealTo, function () {
            if (ret) {
              showWords(ret.words, ret.list);
            } else {
              var none = $('no-pp');
              if (none && none.getAttribute('data-declined')) none.textContent = none.getAttribute('data-declined');
            }
            pending = null;
          });
        }, 20);
      }
    });

    // Where the study accepts only sealed answers, the page comes with its
    // send button disabled, so that a script that failed to load can never
    // let the form post answers in the clear. Everything is in place now.
    var locked = form.querySelectorAll('button[data-needs-js]');
    for (var k = 0; k < locked.length; k++) locked[k].disabled = false;
  }

  // send posts an envelope to /sealed in the background and, once the
  // server has stored it, shows the receipt in place of the page: the
  // history gains no entry (see guardHistory), and when the server cannot
  // store it (busy, a connection too slow) the person reads why and sends
  // again without losing the answers. failed gets the server's reason, or
  // "" if there was no answer. Without fetch the form is posted.
  //
  // When the researchers changed since the page was made (a key was
  // removed from the study), the server refuses the envelope with 409 and
  // names the current ones (header Testimony-Recipients): reseal(keys)
  // returns the same answers sealed to them, which are posted once more.
  // after is called once the receipt is shown.
  function send(envelope, failed, reseal, after) {
    var sealed = $('sealed');
    if (typeof fetch !== 'function' || typeof DOMParser !== 'function') {
      sealed.elements.envelope.value = envelope;
      sealed.submit();
      return;
    }
    var resealed = false;
    function post(env) {
      // The fields in the order of the form: the language first, so that
      // even a page refusing the rest comes in it.
      var body = 'lang=' + encodeURIComponent(sealed.elements.lang.value) + '&envelope=' + encodeURIComponent(env);
      fetch(sealed.getAttribute('action'), {
        method: 'POST', body: body, credentials: 'omit', cache: 'no-store', redirect: 'error',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' }
      }).then(function (resp) {
        return resp.text().then(function (text) {
          var page = new DOMParser().parseFromString(text, 'text/html');
          if (resp.ok) { showPage(page); if (after) after(); return; }
          var keys = resp.headers.get('Testimony-Recipients');
          if (resp.status === 409 && keys && reseal && !resealed) {
            resealed = true;
            var again = null;
            try { again = reseal(keys); } catch (err) { again = null; }
            if (again) { post(again); return; }
          }
          var parts = [], els = page.querySelectorAll('main h1, main p');
          for (var i = 0; i < els.length; i++) if (!els[i].querySelector('a')) parts.push(els[i].textContent.trim());
          failed(parts.join(' '));
        });
      }).catch(function () { failed(''); });
    }
    post(envelope);
  }

  // makeReturn makes a return passphrase, before anything is sent: the
  // secret (crypto.getRandomValues, through nacl.randomBytes), the keys
  // (Argon2id, returnkey.js, reporting progress) and the address the plaintext
  // carries; and, meanwhile, it fetches the word list of the page's
  // language to show the words. It resolves to {address, words, list},
  // the secret and the keys cleared, or fails with nothing sent: a
  // testimony is never stored with a passphrase the person was not shown.
  function makeReturn(model, progress) {
    var rk = root.testimonyReturnKey;
    if (!rk || typeof fetch !== 'function' || typeof Promise !== 'function') return Promise.reject(new Error('returnkey.js is missing'));
    var list = rk.listFor(model.lang), secret = rk.generate();
    var words = fetch('/static/words-' + list + '.txt', { credentials: 'omit', cache: 'no-store', redirect: 'error' }).then(function (resp) {
      if (!resp.ok) throw new Error('status ' + resp.status);
      return resp.text();
    }).then(function (text) {
      var ws = text.split('\n');
      if (ws[ws.length - 1] === '') ws.pop();
      if (ws.length !== 2048) throw new Error('word list');
      return ws;
    });
    var seed = rk.seedAsync(secret, model.id, progress);
    return Promise.all([words, seed]).then(function (r) {
      var k = rk.keys(r[1]);
      r[1].fill(0);
      var address = rk.address(k);
      rk.clear(k);
      var shown = rk.indices(secret).map(function (i) { return r[0][i]; });
      secret.fill(0);
      return { address: address, words: shown, list: list };
    }, function (err) {
      secret.fill(0);
      throw err;
    });
  }

  // showWords shows the return passphrase on the receipt the server sent,
  // in the place it left for them.
  function showWords(words, list) {
    var ol = $('pp-words');
    if (!ol) return;
    while (ol.firstChild) ol.removeChild(ol.firstChild);
    words.forEach(function (w) {
      var li = document.createElement('li');
      li.textContent = w;
      ol.appendChild(li);
    });
    ol.setAttribute('lang', list);
    $('pp').hidden = false;
    var none = $('no-pp');
    if (none) none.hidden = true;
  }

  // showPage shows a page the server sent in place of this one.
  function showPage(page) {
    document.title = page.title;
    document.body.parentNode.replaceChild(document.adoptNode(page.body), document.body);
    notes();
    window.scrollTo(0, 0);
  }

  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  } else {
    root.testimony = api;
    if (typeof document !== 'undefined') {
      if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
      else init();
    }
  }
})(typeof self !== 'undefined' ? self : this);
