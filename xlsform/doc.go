// Package xlsform converts a questionnaire written as an XLSForm — the
// spreadsheet format of ODK, KoboToolbox and SurveyCTO — into a study file
// (package config).
//
// [ConvertBytes] (or [Convert], from an io.Reader) takes the .xlsx file
// and what a study file holds that an XLSForm does not ([Options]: the
// recipients, limits, and earlier versions to stay a revision of), and
// returns the study file's YAML, checked by [config.Parse], with warnings;
// or an [Errors] that lists every problem at once, one a line, each naming
// the sheet, the cell and its column, and saying why and how to fix it:
//
//	form.xlsx: survey!F12 (relevant): column 9: 'maybe' is not a choice of ${phone_use}; its choices are own, borrowed, no
//	form.xlsx: survey!A20 (type): geopoint: testimony never asks for a location: …
//
// Nothing in the form is ever run: expressions are read by package expr.
// examples/nk-internet-access.xlsx is the example study written as an
// XLSForm; converting it gives a study equivalent to
// examples/nk-internet-access.yaml.
//
// # Sheets
//
// The first row of each sheet names its columns; rows below it with no
// value are skipped. Sheet names and column names are read in any case,
// words joined by spaces or '_' ("constraint message" is
// constraint_message), with pyxform's aliases (caption for label,
// relevance for relevant, value for name …). Other sheets are ignored,
// with a warning, but for external_choices and entities, which are
// refused.
//
//   - survey: a row per question, with the columns type, name, label,
//     hint, required, relevant, constraint, constraint_message,
//     appearance, and decimals (testimony's own: the most digits after the
//     point of a decimal answer, 1 to 15).
//   - choices: a row per choice, with list_name, name, label, and
//     exclusive (testimony's own: yes for a choice of a select_multiple
//     that is ticked alone, such as "none of these").
//   - settings: one row of values under its headers: form_id (the study
//     id, checked by the rule of study ids, with a fix for ODK-style ids
//     such as nk_internet_2026), form_title and introduction (testimony's
//     own: the text of the first page), default_language, and version
//     (not used, with a warning: a study's version is the SHA-256 of its
//     study file, and every answer carries it).
//
// # Languages
//
// Texts — label, hint, constraint_message, and on the settings sheet
// form_title and introduction — have a column per language, written
// "label::Korean (ko)" or "label::ko": the code is a BCP 47 tag, the name
// is checked against it ("Korean (kr)" is refused: kr is Kanuri). A
// column without a language ("label") is in default_language, which must
// then be set. The study's languages are those of the columns that hold
// a value, default_language first, or else the first language of the
// survey sheet; every text is written in each of them. A label may not
// show answers (${…} in a text is refused).
//
// # Types
//
// What testimony asks:
//
//	text                      short_text; with appearance multiline, long_text
//	integer, decimal          integer, decimal
//	date                      date_approx: a year, and a season or month if
//	                          remembered; with appearance year, year
//	select_one L              single_choice, with the choices of list L
//	select_multiple L         multi_choice
//	note                      note
//	acknowledge               consent: required only with required yes, as in
//	                          XLSForm (a warning says when no acknowledge is
//	                          required); relevance reads a ticked one as 'yes'
//	begin group, end group    a section: name, label, hint and relevant
//
// A plain date warns, for a study of people at risk never asks for an
// exact day: a day can identify a person (the day they crossed a border)
// and is rarely remembered; date_approx asks for what people remember.
// Appearance month-year says so and silences the warning. Other
// appearances only lay a question out, and are ignored with a warning.
//
// Refused, with the reason, in the type cell: or_other (add a choice
// other and a text question that depends on it); choice_filter (testimony
// shows every choice to everyone); groups inside groups (a section is a
// page; they do not nest); repeats; calculate and hidden (testimony stores
// only what a person answers); range, rank, trigger, barcode; geopoint,
// geotrace, geoshape (a location identifies a person); image, audio,
// video, file (faces, voices and hidden metadata identify a person);
// time and dateTime (nothing finer than the day is ever recorded); and
// the metadata types start, end, today, deviceid, subscriberid,
// simserial, phonenumber, username, email and audit: testimony never
// records device ids, times or phone numbers of people at risk. So are
// the columns calculation, default, read_only, repeat_count, parameters,
// trigger, media (image, audio, video), bind::…, body::…, and any column
// it does not know (with the column it probably meant). required_message,
// guidance_hint, and the settings public_key, submission_url and style
// are ignored with a warning; Kobo's own columns ($kuid, $autoname …) are
// ignored.
//
// # Conditions
//
// relevant (of a question or a group) and constraint are expressions of
// package expr, checked against the form's questions (errors give the
// cell and the column within the expression); they may only read answers
// to earlier questions, and a constraint reads its own answer as ".". A
// required cell is yes or no (yes, true, 1, TRUE() …): testimony has no
// question required under a condition.
//
// A constraint without a constraint_message that is only bounds becomes
// the question's bounds, which testimony checks and explains by itself
// in every language and lists in the codebook: ". >= 1980 and . <= 2024"
// becomes min and max (of year, date, integer and decimal questions;
// dates are bounded by years), "string-length(.) <= 500" max_length,
// "count-selected(.) <= 3" max, and KoboToolbox's convention for an
// exclusive choice, "not(selected(., 'none') and count-selected(.) > 1)",
// makes the choice exclusive. Any other constraint, or one with a
// message, is kept as written, with its message in every language.
//
// # Limits
//
// A file is refused before its sheets are read if it is larger than
// [MaxFileSize], decompresses to more than [MaxUnzippedSize] (from the
// sizes the archive declares, which Go's archive/zip enforces), or holds
// more than a thousand parts; a sheet is refused at its first value
// beyond [MaxRows] rows or [MaxColumns] columns. The costliest file these
// limits let through takes under a second and about 100 MB of memory
// (BenchmarkWorstForm). Old .xls files, .ods
// files and workbooks protected by a password are refused with the way
// to save them as .xlsx.
package xlsform
