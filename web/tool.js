// tool.js lets Go tests drive the browser code under Node. It reads one
// JSON request on stdin and writes one JSON answer on stdout:
//
//   {"op":"seal","study":S,"recipients":[pub...],"plaintext":base64}
//     -> {"envelope":base64}
//   {"op":"answers","model":M,"cases":[{"lang":L,"form":{name:[values]}}]}
//     -> [{"answers":{...},"problems":{...}|null,"plaintext":string|null}]
'use strict';
const t = require('../intake/static/testimony.js');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  let out;
  if (req.op === 'seal') {
    const keys = req.recipients.map(t.parseRecipient);
    out = { envelope: t.base64(t.seal(req.study, Buffer.from(req.plaintext, 'base64'), keys)) };
  } else if (req.op === 'answers') {
    out = req.cases.map((c) => {
      const r = t.fromForm(req.model, c.form);
      return { answers: r.answers, problems: r.problems, plaintext: r.problems ? null : t.marshal(req.model, c.lang, r.answers) };
    });
  } else {
    throw new Error('unknown op ' + req.op);
  }
  process.stdout.write(JSON.stringify(out));
});
