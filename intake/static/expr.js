/*
 * expr.js: the conditions of a study (relevance and constraints), in the
 * browser.
 *
 * This is package expr (Go) in JavaScript: the specification is that
 * package's documentation, and both follow it to the bit. They accept the
 * same expressions, give the same errors (column and message) and compute
 * the same results; expr/testdata/vectors.json holds the cases both must
 * pass, and expr's Go tests compare the two on generated expressions.
 * Nothing is ever evaluated as code.
 *
 *   var e = testimonyExpr.parse("${age} >= 18");  // throws an ExprError
 *   e.check({age: {kind: 'number'}}, '');          // throws an ExprError
 *   e.evaluate({answers: {age: ['19']}, self: ''}); // true
 *   e.refs();                                       // ['age']
 *   String(e);                                      // canonical form
 *
 * Plain ES5 with no dependency: a global (testimonyExpr) in the browser,
 * module.exports under Node.
 */
(function (root) {
  'use strict';

  var MAX_LENGTH = 4096, MAX_DEPTH = 64, MAX_DIGITS = 20;

  function hasOwn(o, k) { return o !== null && typeof o === 'object' && Object.prototype.hasOwnProperty.call(o, k); }

  // ExprError is a problem with an expression: a column (in Unicode code
  // points, from 1) and a message.
  function ExprError(column, msg) {
    this.name = 'ExprError';
    this.column = column;
    this.msg = msg;
    this.message = 'column ' + column + ': ' + msg;
  }
  ExprError.prototype = Object.create(Error.prototype);
  ExprError.prototype.constructor = ExprError;

  function errAt(col, msg) { return new ExprError(col, msg); }

  // Types and operators, as in parse.go.
  var T_BOOL = 1, T_NUM = 2, T_STR = 3, T_ANS = 4;
  var OP_TEXT = { or: 'or', and: 'and', eq: '=', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=',
    add: '+', sub: '-', mul: '*', div: 'div', mod: 'mod', neg: '-' };
  var PREC = { or: 1, and: 2, eq: 3, ne: 3, lt: 4, le: 4, gt: 4, ge: 4, add: 5, sub: 5, mul: 6, div: 6, mod: 6, neg: 7 };
  function prec(op) { return hasOwn(PREC, op) ? PREC[op] : 8; }

  function isDigit(c) { return c >= '0' && c <= '9'; }
  function isLetter(c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_'; }
  function isNameChar(c) { return isLetter(c) || isDigit(c) || c === '-' || c === ':'; }
  function isRefChar(c) { return isLetter(c) || isDigit(c) || c === '-' || c === '.'; }
  function isSpace(c) { return c === ' ' || c === '\t' || c === '\r' || c === '\n'; }
  function isHigh(u) { return u >= 0xD800 && u <= 0xDBFF; }
  function isLow(u) { return u >= 0xDC00 && u <= 0xDFFF; }

  // codePointAt returns the code point at index i of s and its length in
  // UTF-16 code units (a lone surrogate is one code point).
  function codePointAt(s, i) {
    var u = s.charCodeAt(i);
    if (isHigh(u) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) {
      return [(u - 0xD800) * 0x400 + (s.charCodeAt(i + 1) - 0xDC00) + 0x10000, 2];
    }
    return [u, 1];
  }

  function fromCodePoint(r) {
    if (r < 0x10000) return String.fromCharCode(r);
    r -= 0x10000;
    return String.fromCharCode(0xD800 + (r >> 10), 0xDC00 + (r & 0x3FF));
  }

  function codePoints(s) {
    var n = 0;
    for (var i = 0; i < s.length; i += codePointAt(s, i)[1]) n++;
    return n;
  }

  function utf8Length(s) {
    var n = 0;
    for (var i = 0; i < s.length;) {
      var cp = codePointAt(s, i);
      n += cp[0] < 0x80 ? 1 : cp[0] < 0x800 ? 2 : cp[0] < 0x10000 ? 3 : 4;
      i += cp[1];
    }
    return n;
  }

  // show is a token or text as quoted in messages: at most 32 characters,
  // control characters replaced.
  function show(s) {
    var out = '', n = 0;
    for (var i = 0; i < s.length;) {
      var cp = codePointAt(s, i);
      if (n === 32) { out += '\u2026'; break; }
      var r = cp[0];
      if (r < 0x20 || (r >= 0x7F && r < 0xA0)) out += '\uFFFD';
      else out += s.substr(i, cp[1]);
      i += cp[1];
      n++;
    }
    return out;
  }

  function quote(s) { return s.indexOf("'") >= 0 ? '"' + s + '"' : "'" + s + "'"; }
  function lit(s) { return show(quote(s)); }

  function describeChar(s, i) {
    var r = codePointAt(s, i)[0];
    var hex = r.toString(16).toUpperCase();
    while (hex.length < 4) hex = '0' + hex;
    var d = 'character U+' + hex;
    if (visible(r)) d += ' (' + fromCodePoint(r) + ')';
    return d;
  }

  // visible tells whether a character is worth showing in a message: not a
  // control, space, format or private-use character.
  function visible(r) {
    return r > 0x20 && r !== 0x7F && !(r >= 0x80 && r <= 0xA0) && r !== 0xAD &&
      !(r >= 0x2000 && r <= 0x200F) && !(r >= 0x2028 && r <= 0x202F) && !(r >= 0x205F && r <= 0x206F) &&
      r !== 0x3000 && !(r >= 0xD800 && r <= 0xF8FF) && !(r >= 0xFE00 && r <= 0xFE0F) && r !== 0xFEFF &&
      !(r >= 0xFFF0 && r <= 0xFFFF) && r < 0xE0000;
  }

  function significantDigits(digits) {
    var i = 0, j = digits.length;
    while (i < j && digits.charAt(i) === '0') i++;
    while (j > i && digits.charAt(j - 1) === '0') j--;
    return j - i;
  }

  function canonicalNumber(intPart, frac) {
    intPart = intPart.replace(/^0+/, '');
    if (intPart === '') intPart = '0';
    frac = frac.replace(/0+$/, '');
    return frac === '' ? intPart : intPart + '.' + frac;
  }

  // numeral reads s as a number, or returns NaN (see the package doc).
  function numeral(s) {
    var i = 0, j = s.length;
    while (i < j && isSpace(s.charAt(i))) i++;
    while (j > i && isSpace(s.charAt(j - 1))) j--;
    s = s.slice(i, j);
    var k = 0, digits = '', dot = false;
    if (s.charAt(0) === '-') k++;
    for (; k < s.length; k++) {
      var c = s.charAt(k);
      if (isDigit(c)) digits += c;
      else if (c === '.' && !dot) dot = true;
      else return NaN;
    }
    if (digits.length === 0 || significantDigits(digits) > MAX_DIGITS) return NaN;
    return Number(s);
  }
  function isNumeral(s) { return numeral(s) === numeral(s); }

  // ---- Lexer and parser ----

  function Parser(src) {
    this.src = src;
    this.pos = 0; // index of the next unread code unit
    this.col = 1; // column of pos
    this.tok = null;
    this.nest = 0;
    this.refs = Object.create(null);
    this.self = false;
  }

  Parser.prototype.peek = function (i) { return this.src.charAt(this.pos + i); };

  // advance moves over n code units, counting the code points that start
  // in them.
  Parser.prototype.advance = function (n) {
    for (var end = this.pos + n; this.pos < end; this.pos++) {
      if (!(isLow(this.src.charCodeAt(this.pos)) && this.pos > 0 && isHigh(this.src.charCodeAt(this.pos - 1)))) this.col++;
    }
  };

  Parser.prototype.next = function () {
    var src = this.src;
    while (this.pos < src.length && isSpace(src.charAt(this.pos))) this.advance(1);
    var start = this.pos, col = this.col, self = this;
    function tok(kind, text) {
      self.tok = { kind: kind, col: col, text: text, src: src.slice(start, self.pos), num: 0 };
    }
    if (this.pos >= src.length) return tok('eof', '');
    var c = src.charAt(this.pos);
    if (isDigit(c) || (c === '.' && isDigit(this.peek(1)))) return this.number();
    if (c === "'" || c === '"') {
      var end = src.indexOf(c, this.pos + 1);
      if (end < 0) throw errAt(col, 'this text has no closing ' + c + ': add one where the text ends');
      this.advance(end + 1 - this.pos);
      return tok('str', src.slice(start + 1, this.pos - 1));
    }
    if (c === '$') {
      if (this.peek(1) !== '{') throw errAt(col, 'a $ must start a question reference such as ${age}');
      this.advance(2);
      while (this.pos < src.length && isRefChar(src.charAt(this.pos))) this.advance(1);
      var id = src.slice(start + 2, this.pos);
      if (this.pos >= src.length) throw errAt(col, '${ has no closing }: write a question as ${name}');
      if (src.charAt(this.pos) !== '}') throw errAt(this.col, 'unexpected ' + describeChar(src, this.pos) + ' in a question reference: write a question as ${name}, its name made of letters, digits, _, - and .');
      if (id === '') throw errAt(col, '${} names no question: write a question as ${name}');
      if (!isLetter(id.charAt(0))) throw errAt(col + 2, 'a question name starts with a letter or _');
      this.advance(1);
      return tok('ref', id);
    }
    if (c === '.') {
      if (this.peek(1) === '.') throw errAt(col, "'..' (the parent group) is not supported: refer to questions as ${name}");
      this.advance(1);
      return tok('dot', '.');
    }
    if (isLetter(c)) {
      while (this.pos < src.length && isNameChar(src.charAt(this.pos))) this.advance(1);
      return tok('name', src.slice(start, this.pos));
    }
    switch (c) {
      case '(': this.advance(1); return tok('lparen', '(');
      case ')': this.advance(1); return tok('rparen', ')');
      case ',': this.advance(1); return tok('comma', ',');
      case '+': case '-': case '*': this.advance(1); return tok('op', c);
      case '=':
        if (this.peek(1) === '=') throw errAt(col, 'write = instead of == to test equality');
        this.advance(1);
        return tok('op', '=');
      case '!':
        if (this.peek(1) !== '=') throw errAt(col, 'write not(\u2026) instead of !');
        this.advance(2);
        return tok('op', '!=');
      case '<': case '>':
        if (c === '<' && this.peek(1) === '>') throw errAt(col, 'write != instead of <>');
        this.advance(this.peek(1) === '=' ? 2 : 1);
        return tok('op', src.slice(start, this.pos));
      case '&': throw errAt(col, 'write and instead of &');
      case '|': throw errAt(col, 'write or instead of |');
      case '/': throw errAt(col, 'paths such as /data/age are not supported: refer to questions as ${age}; divide with div');
      case '[': case ']': throw errAt(col, 'predicates [...] are not supported');
    }
    var r = codePointAt(src, this.pos)[0];
    if (r >= 0x2018 && r <= 0x201F) throw errAt(col, 'unexpected ' + describeChar(src, this.pos) + ": write texts between straight quotes ' or \" (a spreadsheet may have curled them)");
    if (r >= 0xFF01 && r <= 0xFF5E) throw errAt(col, 'unexpected ' + describeChar(src, this.pos) + ': write ' + String.fromCharCode(r - 0xFEE0) + ' instead (switch the keyboard to half-width)');
    if (r === 0xA0 || r === 0x3000 || (r >= 0x2000 && r <= 0x200B) || r === 0x202F || r === 0x205F || r === 0xFEFF) throw errAt(col, 'unexpected ' + describeChar(src, this.pos) + ': use a plain space');
    throw errAt(col, 'unexpected ' + describeChar(src, this.pos));
  };

  Parser.prototype.number = function () {
    var src = this.src, start = this.pos, col = this.col;
    while (this.pos < src.length && isDigit(src.charAt(this.pos))) this.advance(1);
    var intPart = src.slice(start, this.pos), frac = '';
    if (src.charAt(this.pos) === '.') {
      this.advance(1);
      var f = this.pos;
      while (this.pos < src.length && isDigit(src.charAt(this.pos))) this.advance(1);
      frac = src.slice(f, this.pos);
    }
    if (this.pos < src.length && isLetter(src.charAt(this.pos))) {
      var c = src.charAt(this.pos), d = this.peek(1);
      if ((c === 'e' || c === 'E') && (isDigit(d) || d === '+' || d === '-')) throw errAt(col, 'write numbers in plain digits, without an exponent (1000, not 1e3)');
      throw errAt(this.col, 'a letter cannot follow a number: put a space or an operator between them');
    }
    if (significantDigits(intPart + frac) > MAX_DIGITS) throw errAt(col, 'this number has more than ' + MAX_DIGITS + ' significant digits');
    var text = canonicalNumber(intPart, frac);
    this.tok = { kind: 'num', col: col, text: text, src: src.slice(start, this.pos), num: Number(text) };
  };

  Parser.prototype.isWord = function (w) { return this.tok.kind === 'name' && this.tok.text === w; };

  Parser.prototype.found = function () { return this.tok.kind === 'eof' ? 'the end' : show(this.tok.src); };

  var KEYWORDS = ['and', 'or', 'div', 'mod'];

  Parser.prototype.expectedOperator = function (what) {
    if (this.tok.kind === 'name') {
      var lower = this.tok.text.toLowerCase();
      for (var i = 0; i < KEYWORDS.length; i++) if (lower === KEYWORDS[i]) return errAt(this.tok.col, 'write ' + KEYWORDS[i] + ' in lowercase');
    }
    return errAt(this.tok.col, 'expected ' + what + ', found ' + this.found());
  };

  Parser.prototype.tooDeep = function (col) {
    return errAt(col, 'the expression is nested more than ' + MAX_DEPTH + ' levels deep: simplify it');
  };

  Parser.prototype.enter = function () {
    this.nest++;
    if (this.nest > MAX_DEPTH) throw this.tooDeep(this.tok.col);
  };

  Parser.prototype.make = function (op, typ, col, args) {
    var n = { op: op, typ: typ, col: col, args: args, depth: 1, text: '', num: 0 };
    for (var i = 0; i < args.length; i++) n.depth = Math.max(n.depth, args[i].depth + 1);
    if (n.depth > MAX_DEPTH) throw this.tooDeep(col);
    return n;
  };

  function start(n) {
    while (n.args.length > 0 && n.op !== 'neg' && n.op !== 'call') n = n.args[0];
    return n.col;
  }

  function leaf(op, typ, col, text, num) { return { op: op, typ: typ, col: col, args: [], depth: 1, text: text, num: num || 0 }; }

  Parser.prototype.parseOr = function () { return this.parseChain('or', this.parseAnd); };
  Parser.prototype.parseAnd = function () { return this.parseChain('and', this.parseEq); };

  Parser.prototype.parseChain = function (word, operand) {
    var l = operand.call(this);
    if (!this.isWord(word)) return l;
    var col = this.tok.col, args = [];
    function add(n) {
      if (n.op === word) args.push.apply(args, n.args);
      else args.push(n);
    }
    wantBool(l);
    add(l);
    while (this.isWord(word)) {
      this.next();
      var r = operand.call(this);
      wantBool(r);
      add(r);
    }
    return this.make(word, T_BOOL, col, args);
  };

  var CANNOT_COMPARE = 'a condition cannot be compared: combine conditions with and, or and not()';

  Parser.prototype.parseEq = function () {
    var l = this.parseRel();
    while (this.tok.kind === 'op' && (this.tok.text === '=' || this.tok.text === '!=')) {
      var op = this.tok.text === '=' ? 'eq' : 'ne', col = this.tok.col;
      if (l.typ === T_BOOL) throw errAt(col, CANNOT_COMPARE);
      this.next();
      var r = this.parseRel();
      if (r.typ === T_BOOL) throw errAt(start(r), CANNOT_COMPARE);
      if ((l.typ === T_NUM && r.typ === T_STR) || (l.typ === T_STR && r.typ === T_NUM)) throw errAt(col, 'a number cannot be compared with a text: write numbers without quotes');
      l = this.make(op, T_BOOL, col, [l, r]);
    }
    return l;
  };

  var REL = { '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge' };

  Parser.prototype.parseRel = function () {
    var l = this.parseAdd();
    while (this.tok.kind === 'op' && hasOwn(REL, this.tok.text)) {
      var op = REL[this.tok.text], col = this.tok.col;
      if (l.typ === T_BOOL) throw errAt(col, CANNOT_COMPARE);
      wantNumber(l);
      this.next();
      var r = this.parseAdd();
      if (r.typ === T_BOOL) throw errAt(start(r), CANNOT_COMPARE);
      wantNumber(r);
      l = this.make(op, T_BOOL, col, [l, r]);
    }
    return l;
  };

  Parser.prototype.parseAdd = function () {
    var l = this.parseMul();
    while (this.tok.kind === 'op' && (this.tok.text === '+' || this.tok.text === '-')) {
      l = this.binaryNumber(this.tok.text === '+' ? 'add' : 'sub', this.tok.col, l, this.parseMul);
    }
    return l;
  };

  Parser.prototype.parseMul = function () {
    var l = this.parseUnary();
    while ((this.tok.kind === 'op' && this.tok.text === '*') || this.isWord('div') || this.isWord('mod')) {
      l = this.binaryNumber(this.tok.text === '*' ? 'mul' : this.tok.text, this.tok.col, l, this.parseUnary);
    }
    return l;
  };

  Parser.prototype.binaryNumber = function (op, col, l, operand) {
    wantNumber(l);
    this.next();
    var r = operand.call(this);
    wantNumber(r);
    return this.make(op, T_NUM, col, [l, r]);
  };

  Parser.prototype.parseUnary = function () {
    if (this.tok.kind !== 'op' || this.tok.text !== '-') return this.parsePrimary();
    var col = this.tok.col;
    this.enter();
    this.next();
    var x = this.parseUnary();
    wantNumber(x);
    this.nest--;
    return this.make('neg', T_NUM, col, [x]);
  };

  Parser.prototype.parsePrimary = function () {
    var t = this.tok;
    switch (t.kind) {
      case 'num':
        this.next();
        return leaf('num', T_NUM, t.col, t.text, t.num);
      case 'str':
        this.next();
        return leaf('str', T_STR, t.col, t.text);
      case 'ref':
        this.next();
        this.refs[t.text] = true;
        return leaf('ref', T_ANS, t.col, t.text);
      case 'dot':
        this.next();
        this.self = true;
        return leaf('self', T_ANS, t.col, '.');
      case 'lparen':
        this.enter();
        this.next();
        var x = this.parseOr();
        if (this.tok.kind !== 'rparen') throw this.expectedOperator('an operator or the ) closing the ( at column ' + t.col);
        this.next();
        this.nest--;
        return x;
      case 'name':
        for (var i = 0; i < KEYWORDS.length; i++) if (t.text === KEYWORDS[i]) throw errAt(t.col, 'expected a value before ' + t.text);
        this.next();
        if (this.tok.kind !== 'lparen') {
          if (t.text === 'true' || t.text === 'false') throw errAt(t.col, 'write ' + t.text + '() with parentheses');
          throw errAt(t.col, show(t.text) + ' is not a value: write a question as ${' + show(t.text) + "} and a text in quotes, '" + show(t.text) + "'");
        }
        return this.parseCall(t);
      case 'eof':
        throw errAt(t.col, 'the expression ends where a value is expected');
    }
    throw errAt(t.col, 'expected a value, found ' + this.found());
  };

  var FUNCTIONS = { 'not': true, 'true': true, 'false': true, 'selected': true, 'count-selected': true,
    'string-length': true, 'number': true, 'int': true };
  var FUNCTION_LIST = 'not(), true(), false(), selected(), count-selected(), string-length(), number() and int()';
  var REFUSED = {
    'regex': 'regex() is not supported: regular expressions do not behave alike in every browser and on the server; bound answers with string-length() or a number question instead',
    'if': 'if() is not supported in conditions: combine conditions with and, or and not()',
    'today': "today() is not supported: a condition must not depend on the day or on a device's clock",
    'now': "now() is not supported: a condition must not depend on the day or on a device's clock",
    'random': 'random() is not supported: a condition must give the same result every time',
    'once': 'once() is not supported: a condition must give the same result every time',
    'position': 'position() is not supported: there are no repeats',
    'indexed-repeat': 'indexed-repeat() is not supported: there are no repeats',
    'jr:choice-name': "jr:choice-name() is not supported: compare choice values, such as ${q} = 'yes'",
    'selected-at': "selected-at() is not supported: test choices with selected(${q}, 'value')",
    'boolean-from-string': "boolean-from-string() is not supported: compare the answer, such as ${q} = 'yes'"
  };

  Parser.prototype.parseCall = function (name) {
    var f = name.text;
    if (hasOwn(REFUSED, f)) throw errAt(name.col, REFUSED[f]);
    if (!hasOwn(FUNCTIONS, f)) {
      if (hasOwn(FUNCTIONS, f.toLowerCase())) throw errAt(name.col, 'write ' + f.toLowerCase() + '() in lowercase');
      throw errAt(name.col, show(f) + '() is not a function of conditions: they can use ' + FUNCTION_LIST);
    }
    this.enter();
    this.next(); // the (
    var args = [];
    if (this.tok.kind !== 'rparen') {
      for (;;) {
        args.push(this.parseOr());
        if (this.tok.kind !== 'comma') break;
        this.next();
      }
      if (this.tok.kind !== 'rparen') throw this.expectedOperator('an operator, a comma or the ) ending ' + f + '(\u2026)');
    }
    this.next();
    this.nest--;
    var want = f === 'true' || f === 'false' ? 0 : f === 'selected' ? 2 : 1;
    if (args.length !== want) {
      if (want === 0) throw errAt(name.col, f + '() takes no arguments');
      if (want === 1) throw errAt(name.col, f + '() takes 1 argument, not ' + args.length);
      throw errAt(name.col, f + '() takes 2 arguments, a question and a choice value in quotes, not ' + args.length);
    }
    var t = T_NUM;
    switch (f) {
      case 'true': case 'false':
        t = T_BOOL;
        break;
      case 'not':
        wantBool(args[0]);
        t = T_BOOL;
        break;
      case 'selected':
        if (args[0].typ !== T_ANS) throw errAt(start(args[0]), 'the first argument of selected() must be a question, such as ${name}');
        if (args[1].op !== 'str') throw errAt(start(args[1]), "the second argument of selected() must be a choice value in quotes, such as 'yes'");
        t = T_BOOL;
        break;
      case 'count-selected':
        if (args[0].typ !== T_ANS) throw errAt(start(args[0]), 'the argument of count-selected() must be a question, such as ${name}');
        break;
      case 'string-length':
        if (args[0].typ !== T_ANS && args[0].typ !== T_STR) throw errAt(start(args[0]), 'the argument of string-length() must be an answer, such as ${name} or .');
        break;
      case 'number': case 'int':
        if (args[0].typ === T_STR) throw errAt(start(args[0]), 'write numbers without quotes');
        wantNumber(args[0]);
        break;
    }
    var n = this.make('call', t, name.col, args);
    n.text = f;
    return n;
  };

  function refText(n) { return n.op === 'self' ? '.' : '${' + n.text + '}'; }

  function typeName(t) {
    return t === T_NUM ? 'a number' : t === T_STR ? 'a text' : t === T_ANS ? 'an answer' : 'a condition';
  }

  function wantBool(n) {
    if (n.typ === T_BOOL) return;
    if (n.op === 'ref' || n.op === 'self') {
      var r = refText(n);
      throw errAt(n.col, r + ' is an answer, not a condition: write ' + r + " != '' to test that it was answered");
    }
    throw errAt(start(n), 'expected a condition, found ' + typeName(n.typ));
  }

  function wantNumber(n) {
    if (n.typ === T_NUM || n.typ === T_ANS) return;
    if (n.typ === T_STR) throw errAt(n.col, 'expected a number, found the text ' + lit(n.text) + ': write numbers without quotes');
    throw errAt(start(n), 'expected a number, found a condition');
  }

  // ---- Canonical form ----

  function write(n) {
    switch (n.op) {
      case 'num': case 'self': return n.text;
      case 'str': return quote(n.text);
      case 'ref': return '${' + n.text + '}';
      case 'call':
        return n.text + '(' + n.args.map(write).join(', ') + ')';
      case 'neg':
        return '-' + writeOperand(n.args[0], prec('neg'), false);
    }
    var out = '';
    for (var i = 0; i < n.args.length; i++) {
      if (i > 0) out += ' ' + OP_TEXT[n.op] + ' ';
      out += writeOperand(n.args[i], prec(n.op), i > 0);
    }
    return out;
  }

  function writeOperand(n, parent, right) {
    var p = prec(n.op);
    if (p < parent || (p === parent && right)) return '(' + write(n) + ')';
    return write(n);
  }

  // ---- Check against a schema ----

  var KINDS = { text: 'a text question', number: 'a number question', choice: 'a choice question', multi: 'a multiple-choice question' };
  function phrase(k) { return hasOwn(KINDS, k) ? KINDS[k] : 'a question of unknown kind'; }

  function contains(list, s) {
    for (var i = 0; i < list.length; i++) if (list[i] === s) return true;
    return false;
  }

  function notAChoice(v, ref, values) {
    var msg = lit(v) + ' is not a choice of ' + ref;
    if (values.length === 0) return msg + ', which has no choices';
    msg += '; its choices are ';
    for (var i = 0; i < values.length; i++) {
      if (i === 10) { msg += ', \u2026'; break; }
      if (i > 0) msg += ', ';
      msg += show(values[i]);
    }
    return msg;
  }

  function Checker(schema, self) { this.s = schema; this.self = self; }

  Checker.prototype.question = function (n) {
    var id = n.op === 'self' ? this.self : n.text;
    var q = hasOwn(this.s, id) ? this.s[id] : null;
    return { kind: q && typeof q.kind === 'string' ? q.kind : '', values: q && q.values ? q.values : [] };
  };

  Checker.prototype.kind = function (n) {
    if (n.op !== 'ref' && n.op !== 'self') return '';
    var k = this.question(n).kind;
    return hasOwn(KINDS, k) ? k : '';
  };

  Checker.prototype.similar = function (id) {
    var best = '', lower = asciiLower(id);
    for (var k in this.s) {
      if (hasOwn(this.s, k) && asciiLower(k) === lower && (best === '' || k < best)) best = k;
    }
    return best;
  };

  function asciiLower(s) { return s.replace(/[A-Z]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) + 32); }); }

  Checker.prototype.check = function (n) {
    var i;
    for (i = 0; i < n.args.length; i++) this.check(n.args[i]);
    switch (n.op) {
      case 'ref':
        if (!hasOwn(this.s, n.text)) {
          var msg = 'there is no question ' + show(n.text), alt = this.similar(n.text);
          if (alt !== '') msg += ' (did you mean ${' + alt + '}?)';
          throw errAt(n.col, msg);
        }
        if (this.kind(n) === '') throw errAt(n.col, 'question ' + show(n.text) + ' has no kind in the schema');
        return;
      case 'self':
        if (this.self === '') throw errAt(n.col, '. stands for the answer being checked and can only be used in a constraint: refer to questions as ${name}');
        return;
      case 'eq': case 'ne':
        return this.comparison(n);
      case 'lt': case 'le': case 'gt': case 'ge': case 'add': case 'sub': case 'mul': case 'div': case 'mod': case 'neg':
        for (i = 0; i < n.args.length; i++) this.number(n.args[i]);
        return;
      case 'call':
        return this.call(n);
    }
  };

  Checker.prototype.number = function (n) {
    var r = refText(n);
    switch (this.kind(n)) {
      case 'text': throw errAt(n.col, r + ' is a text question, not a number');
      case 'choice': throw errAt(n.col, r + ' is a choice question and its values are texts: use number(' + r + ') if they are numbers');
      case 'multi': throw errAt(n.col, r + ' can hold several choices: count them with count-selected(' + r + ')');
    }
  };

  Checker.prototype.comparison = function (n) {
    var l = n.args[0], r = n.args[1], pair = [l, r];
    for (var i = 0; i < 2; i++) {
      var a = pair[i], other = pair[1 - i];
      if (this.kind(a) === 'multi' && !(other.op === 'str' && other.text === '')) {
        var ra = refText(a);
        throw errAt(a.col, ra + ' can hold several choices: test them with selected(' + ra + ", 'value') or count-selected(" + ra + ')');
      }
    }
    this.compare(n, l, r);
    this.compare(n, r, l);
  };

  Checker.prototype.compare = function (n, a, b) {
    var ra = refText(a), kb = this.kind(b);
    switch (this.kind(a)) {
      case 'number':
        if (b.op === 'str' && b.text !== '') {
          if (isNumeral(b.text)) throw errAt(b.col, ra + ' is a number question: write ' + show(b.text) + ', not ' + lit(b.text));
          throw errAt(b.col, ra + ' is a number question: compare it with a number, not with ' + lit(b.text));
        }
        if (kb === 'number') throw errAt(n.col, ra + ' and ' + refText(b) + ' are number questions, compared as texts: compare them as numbers with number(' + ra + ') ' + OP_TEXT[n.op] + ' ' + refText(b));
        if (kb !== '') throw errAt(n.col, 'cannot compare ' + ra + ', ' + phrase('number') + ', with ' + refText(b) + ', ' + phrase(kb));
        return;
      case 'choice':
        if (b.op === 'str' && b.text !== '') {
          var q = this.question(a);
          if (!contains(q.values, b.text)) throw errAt(b.col, notAChoice(b.text, ra, q.values));
        } else if (b.typ === T_NUM && b.op === 'num') {
          throw errAt(b.col, ra + " is a choice question and its values are texts: quote the value, '" + b.text + "'");
        } else if (b.typ === T_NUM) {
          throw errAt(a.col, ra + ' is a choice question and its values are texts: use number(' + ra + ') if they are numbers');
        }
        return;
      case 'text':
        if (b.typ === T_NUM) throw errAt(a.col, ra + ' is a text question: compare it with a text in quotes, not with a number');
        return;
    }
  };

  Checker.prototype.call = function (n) {
    if (n.args.length === 0 || n.args[0].typ !== T_ANS) return;
    var a = n.args[0], ra = refText(a), k = this.kind(a), i, vals;
    switch (n.text) {
      case 'selected': case 'count-selected':
        if (k !== 'choice' && k !== 'multi') throw errAt(a.col, n.text + '() needs a choice question; ' + ra + ' is ' + phrase(k));
        if (n.text === 'selected') {
          vals = this.question(a).values;
          if (!contains(vals, n.args[1].text)) throw errAt(n.args[1].col, notAChoice(n.args[1].text, ra, vals));
        }
        return;
      case 'string-length':
        if (k !== 'text' && k !== 'number') throw errAt(a.col, 'string-length() needs a text or number question; ' + ra + ' is ' + phrase(k));
        return;
      case 'number': case 'int':
        if (k === 'multi') throw errAt(a.col, ra + ' can hold several choices: count them with count-selected(' + ra + ')');
        if (k === 'choice') {
          vals = this.question(a).values;
          for (i = 0; i < vals.length; i++) {
            if (!isNumeral(vals[i])) throw errAt(a.col, n.text + '() needs numbers, but ' + ra + ' has the choice ' + lit(vals[i]));
          }
        }
        return;
    }
  };

  // ---- Evaluation ----

  function answer(n, env) {
    var id = n.op === 'self' ? env.self : n.text;
    var vals = hasOwn(env.answers, id) ? env.answers[id] : null;
    var out = [];
    if (Object.prototype.toString.call(vals) !== '[object Array]') return out;
    for (var i = 0; i < vals.length; i++) if (typeof vals[i] === 'string' && vals[i] !== '') out.push(vals[i]);
    return out;
  }

  function evalBool(n, env) {
    var i;
    switch (n.op) {
      case 'or':
        for (i = 0; i < n.args.length; i++) if (evalBool(n.args[i], env)) return true;
        return false;
      case 'and':
        for (i = 0; i < n.args.length; i++) if (!evalBool(n.args[i], env)) return false;
        return true;
      case 'eq': case 'ne':
        var l = n.args[0], r = n.args[1], eq;
        if (l.typ === T_NUM || r.typ === T_NUM) eq = evalNum(l, env) === evalNum(r, env);
        else eq = evalStr(l, env) === evalStr(r, env);
        return eq === (n.op === 'eq');
      case 'lt': return evalNum(n.args[0], env) < evalNum(n.args[1], env);
      case 'le': return evalNum(n.args[0], env) <= evalNum(n.args[1], env);
      case 'gt': return evalNum(n.args[0], env) > evalNum(n.args[1], env);
      case 'ge': return evalNum(n.args[0], env) >= evalNum(n.args[1], env);
      case 'call':
        switch (n.text) {
          case 'true': return true;
          case 'not': return !evalBool(n.args[0], env);
          case 'selected': return contains(answer(n.args[0], env), n.args[1].text);
        }
    }
    return false;
  }

  function evalNum(n, env) {
    switch (n.op) {
      case 'num': return n.num;
      case 'str': case 'ref': case 'self': return numeral(evalStr(n, env));
      case 'add': return evalNum(n.args[0], env) + evalNum(n.args[1], env);
      case 'sub': return evalNum(n.args[0], env) - evalNum(n.args[1], env);
      case 'mul': return evalNum(n.args[0], env) * evalNum(n.args[1], env);
      case 'div': return evalNum(n.args[0], env) / evalNum(n.args[1], env);
      case 'mod': return evalNum(n.args[0], env) % evalNum(n.args[1], env);
      case 'neg': return -evalNum(n.args[0], env);
      case 'call':
        var a = n.args[0];
        switch (n.text) {
          case 'count-selected': return answer(a, env).length;
          case 'string-length': return codePoints(evalStr(a, env));
          case 'number': return evalNum(a, env);
          case 'int':
            var x = evalNum(a, env);
            return x < 0 ? Math.ceil(x) : Math.floor(x);
        }
    }
    return NaN;
  }

  function evalStr(n, env) {
    if (n.op === 'str') return n.text;
    return answer(n, env).join(' ');
  }

  // ---- The API ----

  function Expr(root, refs, self) {
    this.root = root;
    this.refList = refs;
    this.self = self;
  }

  Expr.prototype.toString = function () { return write(this.root); };
  Expr.prototype.refs = function () { return this.refList.slice(); };
  Expr.prototype.usesSelf = function () { return this.self; };

  // check checks the expression against a schema: {id: {kind: 'text' |
  // 'number' | 'choice' | 'multi', values: [...]}}. self is the id of the
  // question whose constraint this is, or '' for a relevance condition.
  Expr.prototype.check = function (schema, self) {
    self = self || '';
    if (self !== '' && !hasOwn(schema, self)) throw errAt(1, 'the question being checked, ' + show(self) + ', is not in the schema');
    new Checker(schema, self).check(this.root);
  };

  // evaluate returns true or false given env = {answers: {id: [values]},
  // self: id}. It throws only if the expression uses '.' and env.self is
  // empty.
  Expr.prototype.evaluate = function (env) {
    var e = { answers: env && env.answers ? env.answers : {}, self: env && env.self ? String(env.self) : '' };
    if (this.self && e.self === '') throw new Error("the expression uses '.', which needs the question being checked (Env.Self)");
    return evalBool(this.root, e);
  };

  function parse(src) {
    src = String(src);
    var n = utf8Length(src);
    if (n > MAX_LENGTH) throw errAt(1, 'the expression is ' + n + ' bytes long, more than the limit of ' + MAX_LENGTH + ': split the condition, or simplify it');
    for (var i = 0, col = 1; i < src.length; col++) {
      var cp = codePointAt(src, i);
      if (cp[0] >= 0xD800 && cp[0] <= 0xDFFF) throw errAt(col, 'the expression is not valid UTF-8');
      i += cp[1];
    }
    var p = new Parser(src);
    p.next();
    if (p.tok.kind === 'eof') throw errAt(1, 'the expression is empty: write a condition such as ${age} >= 18');
    var root = p.parseOr();
    if (p.tok.kind !== 'eof') throw p.expectedOperator('an operator or the end');
    wantBool(root);
    var refs = [];
    for (var id in p.refs) refs.push(id);
    refs.sort();
    return new Expr(root, refs, p.self);
  }

  var api = {
    parse: parse,
    ExprError: ExprError,
    numeral: numeral,
    MAX_LENGTH: MAX_LENGTH,
    MAX_DEPTH: MAX_DEPTH,
    MAX_DIGITS: MAX_DIGITS
  };

  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  } else {
    root.testimonyExpr = api;
  }
})(typeof self !== 'undefined' ? self : this);
