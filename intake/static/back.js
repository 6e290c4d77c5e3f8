/*
 * back.js: the come-back page in the browser.
 *
 * The person types the seven words of their return passphrase. The
 * script reads them (returnkey.js: any list's words, the checksum checked
 * first, errors by position), derives the keys (Argon2id, with progress),
 * downloads every stored reply record (/back/replies: the same bytes for
 * everyone), finds and opens the person's own (reply.js), and shows them:
 * a reply's text, its questions as a small form, a field to add to the
 * testimony, and a button to withdraw it, with a confirmation. Each of
 * these sends a message on the thread (response.MarshalMessage, written
 * by testimony.js's marshalThread), signed with the keys and sealed to the
 * study's current researchers like a testimony, to /sealed: the server
 * cannot tell it from a first testimony.
 *
 * Nothing is kept: no cookie, no storage. The words are cleared from the
 * page once the keys are made; the keys live in this page's memory until
 * it is closed.
 *
 * intake serves it as the last part of a bundle after testimony.js
 * (without expr.js: replies' questions have no conditions),
 * argon2id.min.js, returnkey.js and reply.js; nacl.min.js comes before.
 * Under Node it requires them and exports the pure parts.
 */
(function (root) {
  'use strict';

  function lib(global, path) {
    var l = root[global] || (typeof require === 'function' ? require(path) : null);
    if (!l) throw new Error(path + ' is missing');
    return l;
  }
  var t = lib('testimony', './testimony.js');
  var rk = lib('testimonyReturnKey', './returnkey.js');
  var rp = lib('testimonyReply', './reply.js');

  var THREAD_LABEL = 'testimony-thread-v1\0';

  // followupModel returns the model of testimony.js's checks for the
  // questions of a reply (reply.js's parseContent), as
  // response.FollowupStudy makes them: limits is {yearMin, yearMax,
  // shortMax, longMax}, the page's.
  function followupModel(content, limits, study, version) {
    return {
      id: study, version: version,
      questions: content.questions.map(function (q) {
        return {
          id: q.id, type: q.type, required: !!q.required,
          min: q.type === 'year' ? limits.yearMin : null, max: q.type === 'year' ? limits.yearMax : null,
          maxLen: q.type === 'short_text' ? limits.shortMax : q.type === 'long_text' ? limits.longMax : 0,
          decimals: 0, choices: (q.choices || []).map(function (c) { return c.value; }), exclusive: [],
          rel: null, srel: null, con: null
        };
      })
    };
  }

  // followupFromForm reads the answers to a reply's questions from form
  // fields ({name: [values]}) as response.FollowupFromForm does: {answers,
  // lists, problems}. No answer at all is required on the first question.
  function followupFromForm(model, fields) {
    var res = t.fromForm(model, fields), lists = {};
    model.questions.forEach(function (q) {
      if (q.type === 'multi_choice' && Object.prototype.hasOwnProperty.call(res.answers, q.id)) lists[q.id] = true;
    });
    var problems = res.problems;
    if (!problems && Object.keys(res.answers).length === 0 && model.questions.length > 0) {
      problems = {};
      problems[model.questions[0].id] = { code: 'required', limit: '' };
    }
    return { answers: res.answers, lists: lists, problems: problems };
  }

  // additionProblem returns the problem with an addition's text, read as
  // a long_text answer of at most max characters, or null.
  function additionProblem(text, max) {
    var model = { questions: [{ id: 'text', type: 'long_text', required: true, min: null, max: null, maxLen: max, decimals: 0, choices: [], exclusive: [], rel: null, srel: null, con: null }] };
    var res = t.fromForm(model, { 'q.text': [text] });
    return res.problems ? res.problems.text : null;
  }

  // signThread returns the plaintext of the message m (see testimony.js's
  // marshalThread) signed with the keys k (returnkey.js's keys), as
  // response.SignThread does: the person's signature of
  // "testimony-thread-v1" || 0x00 || the plaintext without "sig".
  function signThread(model, lang, m, k) {
    var unsigned = {}, key;
    for (key in m) if (Object.prototype.hasOwnProperty.call(m, key)) unsigned[key] = m[key];
    unsigned.thread = rk.address(k);
    unsigned.sig = null;
    var bytes = t.utf8(THREAD_LABEL + t.marshalThread(model, lang, unsigned));
    unsigned.sig = rk.sign(k, bytes);
    bytes.fill(0);
    return t.marshalThread(model, lang, unsigned);
  }

  var api = { followupModel: followupModel, followupFromForm: followupFromForm, additionProblem: additionProblem, signThread: signThread };

  // ---- The page ----

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function init() {
    var form = $('bf');
    if (!form) return;
    var d = function (k) { return form.getAttribute('data-' + k); };
    var msg = function (k, n) { return (d('m-' + k) || k).replace('{n}', n === undefined ? '' : String(n)); };
    var page = {
      study: d('study'), version: d('version'), lang: d('lang'),
      keys: d('recipients'), names: (d('names') || '').split('\n'),
      limits: { yearMin: Number(d('year-min')), yearMax: Number(d('year-max')), shortMax: Number(d('short-max')), longMax: Number(d('long-max')) },
      addMax: Number(d('add-max'))
    };
    var status = $('back-status'), problem = $('pp-problem'), input = $('pp'), button = form.querySelector('button[type=submit]');
    var out = $('back-replies');

    function showProblem(text) {
      problem.textContent = text;
      problem.hidden = !text;
      if (text) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault(); // the words never leave the browser
      var secret;
      try {
        secret = rk.parse(input.value);
      } catch (err) {
        if (err.kind === 'unknown word') showProblem(msg('pp-unknown-word', err.position));
        else if (err.kind === 'word count') showProblem(msg('pp-word-count', err.got));
        else if (err.kind === 'too long') showProblem(msg('pp-too-long'));
        else if (err.kind === 'checksum') showProblem(msg('pp-checksum'));
        else throw err;
        return;
      }
      showProblem('');
      button.disabled = true;
      var derived = false, got = 0, total = 0;
      function progress() {
        if (!derived) return;
        status.textContent = total ? msg('back-downloading', Math.floor(100 * got / total)) : msg('back-downloading', 0);
      }
      status.textContent = msg('back-deriving', 0);
      var records = download(function (g, n) { got = g; total = n; progress(); });
      var seed = rk.seedAsync(secret, page.study, function (f) { if (!derived) status.textContent = msg('back-deriving', Math.floor(100 * f)); })
        .then(function (s) { derived = true; progress(); return s; });
      Promise.all([seed, records]).then(function (r) {
        secret.fill(0);
        status.textContent = msg('back-finding');
        var k = rk.keys(r[0]);
        r[0].fill(0);
        var researchers = page.keys.split(' ').map(rk.researcher);
        var res = rp.find(r[1], k, page.study, researchers);
        // The words are no longer needed, nor shown.
        input.value = '';
        form.hidden = true;
        status.textContent = '';
        show(res.found, k);
      }).catch(function () {
        secret.fill(0);
        status.textContent = msg('back-failed');
        button.disabled = false;
      });
    });

    // download fetches every stored reply record, reporting progress.
    function download(onProgress) {
      return fetch('/back/replies', { credentials: 'omit', cache: 'no-store', redirect: 'error' }).then(function (resp) {
        if (!resp.ok) throw new Error('status ' + resp.status);
        var n = Number(resp.headers.get('Content-Length') || 0);
        if (!resp.body || !resp.body.getReader || !n) return resp.arrayBuffer().then(function (b) { return new Uint8Array(b); });
        var buf = new Uint8Array(n), off = 0, reader = resp.body.getReader();
        function pump() {
          return reader.read().then(function (c) {
            if (c.done) {
              if (off !== n) throw new Error('truncated');
              return buf;
            }
            if (off + c.value.length > n) throw new Error('too long');
            buf.set(c.value, off);
            off += c.value.length;
            onProgress(off, n);
            return pump();
          });
        }
        return pump();
      });
    }

    function show(found, k) {
      var model = { id: page.study, version: page.version };
      if (found.length === 0) {
        out.appendChild(el('p', {}, msg('back-none')));
        out.appendChild(el('p', { 'class': 'help' }, msg('back-none-check')));
      }
      found.forEach(function (f) { out.appendChild(replySection(f, k, model)); });
      out.appendChild(additionSection(k, model));
      out.appendChild(withdrawSection(k, model));
      out.appendChild(el('p', { 'class': 'help' }, msg('back-done')));
      window.scrollTo(0, 0);
    }

    function replySection(f, k, model) {
      var c = f.content, sec = el('section', { 'class': 'reply', id: 'r-' + c.id });
      sec.appendChild(el('h2', {}, msg('reply-from').replace('{name}', page.names[f.researcher] || '')));
      if (c.text) sec.appendChild(el('p', { 'class': 'reply-text', lang: c.lang }, c.text));
      if (c.questions.length === 0) return sec;
      var fm = followupModel(c, page.limits, page.study, page.version);
      var form = el('form', { 'class': 'followup', autocomplete: 'off' });
      form.appendChild(el('p', {}, msg('reply-questions')));
      c.questions.forEach(function (q, i) {
        var fs = el('fieldset', { id: 'f-' + q.id, 'data-q': q.id });
        var lg = el('legend');
        lg.appendChild(el('span', { 'class': 'label' }, q.label));
        if (q.required) lg.appendChild(el('span', { 'class': 'req' }, ' (' + msg('required-mark') + ')'));
        fs.appendChild(lg);
        if (q.type === 'single_choice' || q.type === 'multi_choice') {
          q.choices.forEach(function (ch) {
            var lb = el('label');
            lb.appendChild(el('input', { type: q.type === 'single_choice' ? 'radio' : 'checkbox', name: 'q.' + q.id, value: ch.value }));
            lb.appendChild(document.createTextNode(' ' + ch.label));
            fs.appendChild(lb);
          });
        } else if (q.type === 'long_text') {
          fs.appendChild(el('textarea', { name: 'q.' + q.id, rows: '6', maxlength: String(fm.questions[i].maxLen), autocomplete: 'off', spellcheck: 'false' }));
        } else if (q.type === 'short_text') {
          fs.appendChild(el('input', { type: 'text', name: 'q.' + q.id, maxlength: String(fm.questions[i].maxLen), autocomplete: 'off', spellcheck: 'false' }));
        } else {
          fs.appendChild(el('input', { type: 'text', inputmode: 'numeric', name: 'q.' + q.id, size: '6', maxlength: '10', autocomplete: 'off' }));
        }
        form.appendChild(fs);
      });
      var send = el('button', { type: 'submit' }, msg('followup-send'));
      var st = el('p', { role: 'status', 'class': 'sent' });
      var nav = el('p', { 'class': 'nav' });
      nav.appendChild(send);
      form.appendChild(nav);
      form.appendChild(st);
      form.appendChild(el('p', { 'class': 'help' }, msg('followup-again')));
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var res = followupFromForm(fm, fieldsOf(form));
        var first = null;
        fm.questions.forEach(function (q) {
          var fs = $('f-' + q.id), p = res.problems && res.problems[q.id];
          if (setProblem(fs, p ? problemText(p) : '', fs.querySelector('legend')) && !first) first = fs;
        });
        if (first) { first.scrollIntoView(); return; }
        post({ kind: 'followup', reply: c.id, answers: res.answers, lists: res.lists }, k, model, send, st, 'sent-followup');
      });
      sec.appendChild(form);
      return sec;
    }

    function additionSection(k, model) {
      var sec = el('section', { 'class': 'addition' });
      sec.appendChild(el('h2', {}, msg('addition-heading')));
      var form = el('form', { autocomplete: 'off' });
      form.appendChild(el('p', { 'class': 'help' }, msg('addition-help')));
      var ta = el('textarea', { name: 'text', rows: '6', maxlength: String(page.addMax), autocomplete: 'off', spellcheck: 'false' });
      form.appendChild(ta);
      var send = el('button', { type: 'submit' }, msg('addition-send')), nav = el('p', { 'class': 'nav' }), st = el('p', { role: 'status', 'class': 'sent' });
      nav.appendChild(send);
      form.appendChild(nav);
      form.appendChild(st);
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var text = t.normalizeText(ta.value), p = additionProblem(ta.value, page.addMax);
        if (setProblem(form, p ? problemText(p) : '', form.firstChild)) return;
        post({ kind: 'addition', answers: { text: [text] } }, k, model, send, st, 'sent-addition', function () { ta.value = ''; });
      });
      sec.appendChild(form);
      return sec;
    }

    function withdrawSection(k, model) {
      var sec = el('section', { 'class': 'withdraw' });
      sec.appendChild(el('h2', {}, msg('withdraw-heading')));
      sec.appendChild(el('p', { 'class': 'help' }, msg('withdraw-help')));
      var ask = el('button', { type: 'button', 'class': 'secondary', id: 'withdraw' }, msg('withdraw-button'));
      var nav = el('p', { 'class': 'nav' });
      nav.appendChild(ask);
      sec.appendChild(nav);
      var confirm = el('div', { id: 'withdraw-confirm' });
      confirm.hidden = true;
      confirm.appendChild(el('p', {}, '')).appendChild(el('b', {}, msg('withdraw-confirm')));
      var yes = el('button', { type: 'button', 'class': 'danger', id: 'withdraw-yes' }, msg('withdraw-yes'));
      var no = el('button', { type: 'button', 'class': 'secondary', id: 'withdraw-no' }, msg('withdraw-no'));
      var cnav = el('p', { 'class': 'nav' });
      cnav.appendChild(yes);
      cnav.appendChild(document.createTextNode(' '));
      cnav.appendChild(no);
      confirm.appendChild(cnav);
      var st = el('p', { role: 'status', 'class': 'sent' });
      confirm.appendChild(st);
      sec.appendChild(confirm);
      ask.addEventListener('click', function () { confirm.hidden = false; nav.hidden = true; yes.focus(); });
      no.addEventListener('click', function () { confirm.hidden = true; nav.hidden = false; });
      yes.addEventListener('click', function () {
        no.disabled = true;
        post({ kind: 'withdrawal', answers: {} }, k, model, yes, st, 'sent-withdrawal', null, function () { no.disabled = false; });
      });
      return sec;
    }

    function problemText(p) {
      return (form.getAttribute('data-p-' + p.code) || p.code).replace('{n}', String(p.limit)).replace('{choice}', '');
    }

    // setProblem shows text as the problem of the block after the
    // element before (or removes it) and reports whether there is one.
    function setProblem(block, text, before) {
      var p = block.querySelector(':scope > .problem');
      block.classList.toggle('bad', !!text);
      if (!text) { if (p) p.parentNode.removeChild(p); return false; }
      if (!p) {
        p = el('p', { 'class': 'problem', role: 'alert' });
        block.insertBefore(p, before ? before.nextSibling : block.firstChild);
      }
      p.textContent = text;
      return true;
    }

    // post signs the message m, seals it to the researchers and sends it
    // to /sealed, as a testimony is sent; a 409 (the researchers changed)
    // seals it to the ones the server names and sends it once more.
    function post(m, k, model, btn, st, sent, done, failed) {
      btn.disabled = true;
      st.textContent = msg('sending');
      var keys = page.keys, again = false;
      function seal() {
        var pt = t.utf8(signThread(model, page.lang, m, k));
        try {
          return t.base64(t.seal(page.study, pt, keys.split(' ').map(t.parseRecipient)));
        } finally {
          pt.fill(0);
        }
      }
      function fail(why) {
        st.textContent = why || msg('send-failed');
        btn.disabled = false;
        if (failed) failed();
      }
      function send(env) {
        fetch('/sealed', {
          method: 'POST', credentials: 'omit', cache: 'no-store', redirect: 'error',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: 'lang=' + encodeURIComponent(page.lang) + '&envelope=' + encodeURIComponent(env)
        }).then(function (resp) {
          if (resp.ok) {
            // Stored. The answer's page is not shown, but it is read, so
            // that the browser may use the connection again rather than
            // hold it, the page half read, for as long as this one is open.
            return resp.text().catch(function () { return ''; }).then(function () {
              st.textContent = msg(sent);
              if (sent !== 'sent-withdrawal') btn.disabled = false;
              if (done) done();
            });
          }
          var now = resp.headers.get('Testimony-Recipients');
          if (resp.status === 409 && now && !again) {
            again = true;
            keys = now;
            page.keys = now;
            send(seal());
            return;
          }
          return resp.text().then(function (text) {
            var doc = new DOMParser().parseFromString(text, 'text/html'), parts = [], els = doc.querySelectorAll('main h1, main p');
            for (var i = 0; i < els.length; i++) if (!els[i].querySelector('a')) parts.push(els[i].textContent.trim());
            fail(parts.join(' '));
          });
        }).catch(function () { fail(''); });
      }
      setTimeout(function () {
        var env;
        try { env = seal(); } catch (err) { fail(msg('seal-failed')); return; }
        send(env);
      }, 20);
    }
  }

  // fieldsOf returns a form's answer fields as the browser would post them.
  function fieldsOf(form) {
    var out = {};
    for (var i = 0; i < form.elements.length; i++) {
      var e = form.elements[i];
      if (!e.name || e.name.indexOf('q.') !== 0) continue;
      if ((e.type === 'radio' || e.type === 'checkbox') && !e.checked) continue;
      (out[e.name] = out[e.name] || []).push(e.value);
    }
    return out;
  }

  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  } else {
    root.testimonyBack = api;
    if (typeof document !== 'undefined') {
      if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
      else init();
    }
  }
})(typeof self !== 'undefined' ? self : this);
