// Package researcher is the offline side of testimony: it checks batches
// exported by the intake server, opens their envelopes with a researcher's
// key, checks every testimony against the questionnaire version it
// answers, gives each a team pseudonym and writes files researchers can
// analyse; and it carries what a team exchanges: import receipts, renames,
// handovers and revised study files.
//
// Use [Open] to open (or create) a workspace, [Workspace.Resume] and
// [Workspace.Reexamine] to finish what earlier runs left, [Workspace.Import]
// for each batch and [Workspace.ImportHandover] for each handover file,
// [Workspace.Rename], [Workspace.ImportRenames] and [Workspace.ExportRenames]
// for pseudonyms, [Workspace.Receipt] and [Workspace.WriteHandover] for
// the server and the team, then [Workspace.Close] to save the run, or
// [Workspace.Abort] to drop it. [AddRecipient] and [RemoveRecipient] edit a
// study file's team. The package does no networking.
//
// # Workspace
//
//	registry.sealed      what was imported and quarantined, the drawn pseudonyms, every rename, sealed to the researcher's key
//	batches/<sha>.tar    every batch imported, byte for byte as verified, named by its manifest's SHA-256
//	handovers/<sha>.handover  every handover file imported, named by its SHA-256
//	versions/<id>.yaml   every version of the study file the batches carried, named by its version id
//	study.yaml           the study file the exports were last made with (so commands need no --study)
//	data/testimonies     the testimonies, one JSON object per line (study version, language, answers), append-only
//	data/quarantined     the results of examinations that quarantined an envelope, one per line, append-only
//	testimonies.csv      one row per testimony: values (package export, "Columns" and "Codes")
//	testimonies-labels-<lang>.csv  the same with choice labels in lang, when asked for ([Workspace.SetLabels])
//	testimonies.xlsx     sheets of values, of labels (in the exports' language) and the codebook
//	testimonies.jsonl    one JSON object per testimony, answers exactly as sent
//	codebook.csv         every column, question, choice, code and version, with labels in every language
//	testimonies/*.md     one file per testimony, named by pseudonym, with question labels
//	quarantine.jsonl     envelopes that could not be opened or broke the questionnaire's rules, with reasons
//	.exports             what the exports above were made from, so that a run rewrites only what changed
//	.tmp/                what writing the XLSX file spills to disk (testimony), removed when it is written or after a crash
//	audit/               the researcher's audit log (see "Audit")
//	audit.key            its checkpoint signing key (0600); audit.pub is the verifier key auditors pin
//	lock                 held by the one command using the workspace
//
// # Exports
//
// The exports are written by package export, whose documentation gives
// their format: the columns are the union of the questions of every
// version (the study file given to Open, then the versions in versions/),
// each cell an answer or a code saying why there is none (not asked,
// skipped, not in this version), approximate dates split into year and
// month or season; the codebook lists every version. [export.NewSchema]
// takes the versions oldest first, but study files carry no date: the
// study given to Open is taken as the newest and the others in order of
// their version ids, the same for every researcher. Each Markdown file
// follows its testimony's version.
//
// Rows are in the order of their pseudonyms (Hangul in 가나다 order, then
// the romanized form), so that researchers holding the same testimonies
// under the same names write byte-identical CSV, JSONL and Markdown files,
// however and in whatever runs the testimonies reached them (the XLSX
// file's entries come in no fixed order; its sheets are identical). Close
// writes the exports again whenever a testimony, a name, a version or a
// language changed, streaming the testimonies from data/ once to every
// writer in parallel (memory does not grow with their number); only new
// testimonies get new Markdown files when nothing else changed. The exports
// are made from data/ and the registry: edit copies, not them. They hold no
// envelope id, no hash, no testimony reference and no arrival day, so
// published data cannot be joined to records of the server. Only
// registry.sealed links a testimony to its envelope, and only the
// researcher's key opens it.
//
// # Versions
//
// Each testimony is checked against the version of the study its answers
// name: one of versions/, which batches bring, or the study file given to
// Open. The study file given to Open must be a valid revision of every
// version the workspace holds, and of every version a batch brings
// (config.CheckRevision: same study id, no question id back with another
// type, no choice value given another meaning): Open, or the Import of
// the batch, fails with the file, line and fix otherwise.
//
// # Runs
//
// A run is everything between Open and Close. Envelopes are opened and
// checked in parallel, as a batch streams in, with memory independent of the
// batch's size; each accepted testimony is appended to data/testimonies at
// once, but counts only once Close has sealed the registry. Close then gives
// the run's testimonies their pseudonyms batch by batch, in the order the
// workspace met the batches (handovers last), and by pseudonym seed within a
// batch: researchers who import the same batches in the same order get
// identical names, however they split them into runs. (A name two
// testimonies would both draw goes to the one met first; importing batches
// in another order can give such a pair their names the other way round,
// which a signed rename file settles for the team.)
//
// A run is all or nothing. If Import fails for any batch (a bad signature, a
// tampered envelope, a key that opens none of its envelopes), or
// ImportHandover for any handover file, nothing of the run is saved. If the
// process dies at any point, the next Open finds the registry as the last
// completed Close left it and cuts data/ back to it; the exports are made
// again, audit records the run sealed but did not yet append are appended,
// and batches the dead run had kept are imported again by Resume. Importing
// is idempotent: an envelope already imported or quarantined (by its
// SHA-256) is skipped, so re-running on the same or overlapping batches
// never duplicates a testimony or changes a pseudonym.
//
// # Quarantine
//
// An envelope that does not open, or whose answers break the questionnaire,
// is quarantined: the registry keeps its hash and reason, quarantine.jsonl
// shows the reason (and the plaintext if it opened), and its ciphertext
// stays in its batch under batches/ (or its handover file). When the study
// files differ from those the quarantine was last examined against (a
// corrected study file given to Open, a version a new batch brought),
// Reexamine examines again, against every version, every quarantined
// envelope that opened, and every one not sealed to the researcher, and
// brings in those that now pass. (Another envelope that did not open fails
// the same way with the same key; all are examined again when a new version
// of this package examines differently.) Kept batches and handover files
// are pinned by the hashes the registry records, so examining them again
// needs no server key.
//
// # Sealed before you joined
//
// A researcher added to the study (see "Team changes") cannot open the
// envelopes sealed before: their header lists the recipients of an earlier
// version. An envelope not sealed to the researcher whose recipients are
// exactly those of a version the workspace holds that did not include the
// researcher is counted apart ([Workspace.SealedBefore]): not quarantined,
// no sign of a wrong key, kept in its batch until a teammate's handover
// brings it in. An envelope sealed to recipients that are no version's is
// quarantined (not-sealed-to-this-key), and a key that opens none of a
// batch's other envelopes is refused.
//
// # Team pseudonyms and testimony references
//
// A testimony's pseudonym is drawn (package pseudonym) from a seed every
// recipient derives and nobody else can: SHA-512("testimony-pseudonym-v1"
// || 0x00 || S || K)[0:32], S the study id and K the envelope's content
// key (DESIGN.md §6). Researchers name a testimony to each other by its
// reference, hex(SHA-512("testimony-ref-v1" || 0x00 || K)[0:16]): the same
// for every recipient, unknown to the server, and never the envelope's
// hash or the server's ids. The registry keeps each testimony's reference.
//
// # Renames
//
// A rename is a claim (reference, name, clock, the fingerprint of the
// researcher who made it): [Workspace.Rename] records one with a clock one
// above every clock the workspace knows of, and [pseudonym.Registry.Apply]
// lays every claim known over the drawn names by a rule that does not
// depend on the order claims arrive in: by clock, ties by signer; a claim
// whose name another testimony has or had is void; a testimony is named by
// its last claim that applied. So researchers holding the same testimonies
// and the same claims have the same names. A claim of a testimony not in
// the workspace waits for it; one whose reference two testimonies share
// (envelopes a misbehaving client sealed with the same K) applies to
// neither.
//
// [Workspace.ExportRenames] writes a renames file: a signed note
// (golang.org/x/mod/sumdb/note) carrying exactly one signature, by the key
// named "testimony-researcher-" followed by the researcher's fingerprint
// without dashes, holding every claim that researcher made:
//
//	testimony renames v1
//	study <study id>
//	researcher <fingerprint>
//	renames <n>
//	rename <ref> <clock> <hangul>/<roman>     (n lines)
//
// with each line ending in "\n" and no other lines; ref is 32 lowercase hex
// digits, clock a decimal from 1 without leading zeros, the name as
// pseudonym.Parse returns it; lines sorted by clock, then as strings,
// none repeated; n from 1 to [MaxRenames]. [Workspace.ImportRenames]
// accepts only that form, signed by a recipient of the study given to Open
// (a researcher removed from the team can no longer send renames), and
// adds the claims it did not know; importing a file again changes nothing.
//
// # Receipts
//
// [Workspace.Receipt] signs an import receipt (package receipt) listing
// the manifest hash of every batch the workspace imported completely:
// every envelope imported, or kept in batches/ (quarantined, or sealed
// before the researcher joined). `intake purge --receipt` deletes from
// the server only the envelopes of the batches a valid receipt lists, so
// batches/ may then hold the only copy of those kept envelopes.
//
// # Handovers
//
// [Workspace.WriteHandover] writes a handover file (package handover, which
// specifies the format) for a researcher who cannot open some testimonies:
// the original envelopes, from the batches and handover files the
// workspace keeps, with their content keys sealed to that researcher.
// [Workspace.ImportHandover] checks the file's signature against the
// recipients of the study given to Open, that it is for the researcher's
// key, and opens every envelope with its key with envelope.OpenWithKey,
// which checks every recipient's slot: the researcher reads what every
// recipient reads, and derives the same seed and reference. Its testimonies
// are then examined like those of a batch. The workspace keeps the file,
// to examine its envelopes again and to hand them on.
//
// # Team changes
//
// [AddRecipient] and [RemoveRecipient] edit the recipients list of a study
// file's text, keeping every other byte, and check that the result reads,
// differs only in its recipients and is a valid revision. The operator
// serves the result as a new version; the server retires at once every
// version sealed to a removed key.
//
// # Audit
//
// The researcher's audit log (package audit) records, with the UTC day
// only: batch-imported, testimonies-quarantined, testimonies-recovered,
// pseudonym-renamed (a rename made here), renames-signed, renames-applied
// (with the signer's fingerprint), receipt-issued (the receipt's SHA-256),
// handover-written (to whom), handover-imported (from whom), and what
// [Workspace.Record] is given: researcher-added, researcher-removed,
// passphrase-changed. Never a name, a reference or an answer.
package researcher
