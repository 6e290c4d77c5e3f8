// Package export writes testimonies in the formats researchers open — CSV,
// XLSX, JSONL, Markdown and a codebook — so that nothing a person typed can
// run, load or hide anything in the researcher's tools.
//
// Make a [Schema] from every version of the questionnaire with
// [NewSchema], then give any writer the rows one at a time ([Rows], an
// iter.Seq2[Row, error]); no writer holds more than one row, so memory does
// not grow with the number of testimonies. [Row.Answers] holds answers as
// the plaintext does (response.Response.Answers): question id to values.
// A writer refuses a row that names a version it was not given or answers a
// question its version lacks, and stops at the first error from the rows;
// w may then hold part of the output, so write through a temporary file
// renamed on success (internal/atomicfile).
//
//	WriteCSV       one row per testimony; values, or labels in a language
//	WriteXLSX      a workbook: values, labels in a language, the codebook
//	WriteCodebook  the codebook as CSV
//	WriteJSONL     one JSON object per testimony, answers exact
//	WriteMarkdown  one testimony, for reading; WriteMarkdownDir writes them all
//
// and, for what people send after coming back with their return passphrase
// (package response's messages on a thread: follow-ups and additions), the
// thread writers of [ThreadMessage]:
//
//	WriteThreadJSONL     one JSON object per message, answers exact
//	WriteFollowupsCSV    one row per answer of every message (long format), with codes
//	WriteThreadMarkdown  a testimony's thread, the section after its answers
//
// # Columns
//
// pseudonym, pseudonym_roman, lang (the language the person answered in),
// version (the first 12 hex digits of the questionnaire version's id, which
// the codebook maps to the full SHA-256 of the study file), then one column
// per question of any version: the current version's questions in order,
// and a question that later versions removed right after the question it
// followed. A multi_choice answer is its values joined by ";" (labels by
// "; "). A date_approx question has two columns: <id>_year (a number) and
// <id>_period (01–12, spring, summer, autumn or winter, or empty if only the
// year was given). Exports hold no envelope id, hash or arrival day.
//
// # Codes
//
// A cell with no answer holds a code saying why:
//
//	.n  not asked: the question's condition was false, so it was not shown
//	.s  skipped: the question was shown and left blank
//	.v  not in this version: the questionnaire version answered had no such question
//
// They are spelled as Stata's extended missing values of those letters: a
// numeric column that Stata reads as text becomes numbers that keep the
// reason with
//
//	gen double x = cond(c==".n", .n, cond(c==".s", .s, cond(c==".v", .v, real(c))))
//
// In R, read.csv(f, na.strings = c(".n", ".s", ".v")); in pandas,
// read_csv(f, na_values=[".n", ".s", ".v"], keep_default_na=False); in
// Excel, they show as grey text in the XLSX file. Empty means only that a
// date gave no month or season. No answer can be mistaken for a code:
// numbers, choice values and dates never start with ".", and a text answer
// that reads as a code — ".s", or "\.s" — gets one more backslash in front
// ("\.s", "\\.s"); remove one leading backslash from a cell matching
// ^\\+\.[nsv]$ to get the text back. The codebook lists the codes, in every
// language.
//
// # Invisible characters
//
// Bidi embeddings, overrides and isolates, invisible marks, zero-width
// spaces and joiners where they join nothing, line and paragraph
// separators, control characters, Hangul fillers and runs of variation
// selectors can make a testimony read differently from what it holds. CSV,
// XLSX and Markdown show each as its code point in angle brackets
// ("<U+202E>"); JSONL writes it as a \u escape, which keeps the data exact
// and visible in the file. Emoji sequences (👩‍💻, 🏳️‍🌈, 🇰🇷, 🧑🏽‍🚀,
// 🏴󠁧󠁢󠁳󠁣󠁴󠁿) and the joiners of scripts that shape with them (Persian,
// the Indic scripts) are kept. [Visible] documents the exact set.
//
// # CSV and formulas
//
// A spreadsheet that opens a CSV file may run a cell as a formula, which
// can fetch a URL (=HYPERLINK, =WEBSERVICE), leak other cells, or start a
// program (=cmd|' /C calc'!A0). Which text becomes a cell depends on the
// tool: the field separator it is set to (comma; semicolon in many locales;
// tab, space or a vertical bar), whether it honours quotes, and whether it
// splits lines inside quoted fields. So the defence is in the file format,
// not in the first byte of a field:
//
//   - UTF-8 with a byte order mark (Excel then reads Korean), CRLF after
//     each record, every field in double quotes with quotes doubled (RFC
//     4180), so a tool that honours quotes reads each field whole.
//   - A segment is the text that starts a field, or follows a comma,
//     semicolon, tab, space, vertical bar or line break in it — anywhere a
//     tool could start a cell — after any white space and double quotes.
//   - A segment is dangerous if it starts with =, @ (or their full-width
//     and small forms ＝ ＠ ﹦ ﹫), or with +, - (or ＋ － ﹢ ﹣ −) followed by
//     anything but a plain number: digits, spaces and . , ( ) / + - % ', up to
//     the same separator or a line break (after a double quote, up to a line
//     break: a tool that honours it reads on). Without a letter a formula can
//     name no function, cell, sheet or program, so -5, +82 (0)10-1234-5678
//     and 1990-1995 are not dangerous.
//   - A single quote is written before the first character of every
//     dangerous segment, and nowhere else: "x;=1+1" is written as
//     "x;'=1+1", while "+86 10 1234 5678" is written as it is.
//
// This is tested with LibreOffice, formula evaluation on, splitting on
// comma, semicolon, tab, space, vertical bar or all of them, with double
// quotes, single quotes or nothing as the text delimiter. The XLSX file
// needs none of this: its cells are typed, and a text cell is never a
// formula. JSONL and Markdown hold text exactly (JSONL) or fenced
// (Markdown), never defused.
package export
