package audit

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

var testDay = time.Date(2026, 3, 4, 23, 59, 58, 999, time.FixedZone("KST", 9*3600))

func allRecords() []Record {
	h := sha256.Sum256([]byte("x"))
	return []Record{
		ServiceStarted(h, testDay),
		ServiceStopped(testDay),
		SubmissionStored(h, testDay),
		BatchExported(h, 12, testDay),
		EnvelopesPurged(0, testDay),
		OnionPublished(testDay),
		BatchImported(h, 12, "age1:abcdEFGH+/=_.-", testDay),
		TestimoniesQuarantined(MaxCount, testDay),
		PseudonymRenamed(testDay),
		SubmissionsRecovered(3, testDay),
		ExportRolledBack(40, testDay),
		EnvelopesPurgedWithoutReceipt(7, testDay),
		ReceiptAccepted(h, "0123-4567-89ab-cdef-0123", testDay),
		StudyVersionRetired(h, testDay),
		BackupMade(testDay),
		ServiceRestored(h, testDay),
		TestimoniesRecovered(5, testDay),
		ReceiptIssued(h, 2, testDay),
		RenamesSigned(4, testDay),
		RenamesApplied(4, "0123-4567-89ab-cdef-0123", testDay),
		ResearcherAdded("89ab-cdef-0123-4567-89ab", testDay),
		ResearcherRemoved("89ab-cdef-0123-4567-89ab", testDay),
		PassphraseChanged("0123-4567-89ab-cdef-0123", testDay),
		HandoverWritten(9, "89ab-cdef-0123-4567-89ab", testDay),
		HandoverImported(9, "0123-4567-89ab-cdef-0123", testDay),
		ReplyBatchImported(h, 3, testDay),
		RepliesServed(17, testDay),
		RepliesPurged(3, testDay),
	}
}

func TestRecordEncoding(t *testing.T) {
	h := "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
	want := []string{
		"testimony-audit/1 2026-03-04 service-started study-sha256=" + h + "\n",
		"testimony-audit/1 2026-03-04 service-stopped\n",
		"testimony-audit/1 2026-03-04 submission-stored envelope-sha256=" + h + "\n",
		"testimony-audit/1 2026-03-04 batch-exported manifest-sha256=" + h + " count=12\n",
		"testimony-audit/1 2026-03-04 envelopes-purged count=0\n",
		"testimony-audit/1 2026-03-04 onion-published\n",
		"testimony-audit/1 2026-03-04 batch-imported manifest-sha256=" + h + " count=12 researcher-key=age1:abcdEFGH+/=_.-\n",
		"testimony-audit/1 2026-03-04 testimonies-quarantined count=1000000000\n",
		"testimony-audit/1 2026-03-04 pseudonym-renamed\n",
		"testimony-audit/1 2026-03-04 submissions-recovered count=3\n",
		"testimony-audit/1 2026-03-04 export-rolled-back count=40\n",
		"testimony-audit/1 2026-03-04 envelopes-purged-without-receipt count=7\n",
		"testimony-audit/1 2026-03-04 receipt-accepted receipt-sha256=" + h + " researcher-key=0123-4567-89ab-cdef-0123\n",
		"testimony-audit/1 2026-03-04 study-version-retired study-sha256=" + h + "\n",
		"testimony-audit/1 2026-03-04 backup-made\n",
		"testimony-audit/1 2026-03-04 service-restored backup-sha256=" + h + "\n",
		"testimony-audit/1 2026-03-04 testimonies-recovered count=5\n",
		"testimony-audit/1 2026-03-04 receipt-issued receipt-sha256=" + h + " count=2\n",
		"testimony-audit/1 2026-03-04 renames-signed count=4\n",
		"testimony-audit/1 2026-03-04 renames-applied count=4 researcher-key=0123-4567-89ab-cdef-0123\n",
		"testimony-audit/1 2026-03-04 researcher-added researcher-key=89ab-cdef-0123-4567-89ab\n",
		"testimony-audit/1 2026-03-04 researcher-removed researcher-key=89ab-cdef-0123-4567-89ab\n",
		"testimony-audit/1 2026-03-04 passphrase-changed researcher-key=0123-4567-89ab-cdef-0123\n",
		"testimony-audit/1 2026-03-04 handover-written count=9 researcher-key=89ab-cdef-0123-4567-89ab\n",
		"testimony-audit/1 2026-03-04 handover-imported count=9 researcher-key=0123-4567-89ab-cdef-0123\n",
		"testimony-audit/1 2026-03-04 reply-batch-imported manifest-sha256=" + h + " count=3\n",
		"testimony-audit/1 2026-03-04 replies-served count=17\n",
		"testimony-audit/1 2026-03-04 replies-purged count=3\n",
	}
	for i, r := range allRecords() {
		text, err := r.MarshalText()
		if err != nil {
			t.Fatalf("%s: %v", r.Event, err)
		}
		// testDay is 2026-03-05 in Seoul: the record must hold the UTC day.
		if string(text) != want[i] {
			t.Errorf("MarshalText(%s) =\n%q, want\n%q", r.Event, text, want[i])
		}
		back, err := ParseRecord(text)
		if err != nil {
			t.Fatalf("ParseRecord(%q): %v", text, err)
		}
		if back != r {
			t.Errorf("ParseRecord(MarshalText(r)) = %+v, want %+v", back, r)
		}
	}
	if len(allRecords()) != len(Events) || len(events) != len(Events) {
		t.Fatal("a new event is missing from this test")
	}
}

func TestMarshalRejects(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	for _, tc := range []struct {
		r    Record
		want string
	}{
		{Record{Event: "ip-logged", Day: "2026-03-04"}, "unknown event"},
		{ServiceStopped(time.Time{}), "before 2000-01-01"},
		{Record{Event: EventServiceStopped, Day: "2026-03-04T10:00"}, "not a date"},
		{Record{Event: EventServiceStopped, Day: "2026-3-4"}, "not a date"},
		{BatchExported(h, -1, testDay), "not between 0"},
		{EnvelopesPurged(MaxCount+1, testDay), "not between 0"},
		{Record{Event: EventServiceStopped, Day: "2026-03-04", Count: 1}, "carries no count"},
		{Record{Event: EventOnionPublished, Day: "2026-03-04", SHA256: h}, "carries no hash"},
		{Record{Event: EventBatchExported, Day: "2026-03-04", ResearcherKey: "abcdefgh"}, "carries no researcher key"},
		{BatchImported(h, 1, "short", testDay), "want 8 to 128"},
		{BatchImported(h, 1, "Kim Jong Pseudonym", testDay), "contains ' '"},
		{BatchImported(h, 1, "abcdefgh\nforged", testDay), "contains '\\n'"},
		{BatchImported(h, 1, strings.Repeat("a", 129), testDay), "want 8 to 128"},
	} {
		_, err := tc.r.MarshalText()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MarshalText(%+v) error = %v, want %q", tc.r, err, tc.want)
		}
	}
}

func TestParseRecordRejects(t *testing.T) {
	h := "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
	for _, text := range []string{
		"",
		"\n",
		"testimony-audit/1 2026-03-04 service-stopped",
		"testimony-audit/1 2026-03-04 service-stopped\n\n",
		"testimony-audit/1 2026-03-04 service-stopped\r\n",
		"testimony-audit/2 2026-03-04 service-stopped\n",
		"testimony-audit/1  2026-03-04 service-stopped\n",
		"testimony-audit/1 2026-03-04 service-stopped \n",
		"testimony-audit/1 2026-03-04 service-stopped extra=1\n",
		"testimony-audit/1 2026-02-30 service-stopped\n",
		"testimony-audit/1 1999-12-31 service-stopped\n",
		"testimony-audit/1 2026-03-04 Service-Stopped\n",
		"testimony-audit/1 2026-03-04 submission-stored\n",
		"testimony-audit/1 2026-03-04 submission-stored envelope-sha256=" + strings.ToUpper(h) + "\n",
		"testimony-audit/1 2026-03-04 submission-stored envelope-sha256=" + h[:62] + "\n",
		"testimony-audit/1 2026-03-04 submission-stored study-sha256=" + h + "\n",
		"testimony-audit/1 2026-03-04 batch-exported manifest-sha256=" + h + "\n",
		"testimony-audit/1 2026-03-04 batch-exported manifest-sha256=" + h + " count=012\n",
		"testimony-audit/1 2026-03-04 batch-exported manifest-sha256=" + h + " count=-1\n",
		"testimony-audit/1 2026-03-04 batch-exported manifest-sha256=" + h + " count=+1\n",
		"testimony-audit/1 2026-03-04 batch-exported manifest-sha256=" + h + " count=1000000001\n",
		"testimony-audit/1 2026-03-04 batch-exported count=1 manifest-sha256=" + h + "\n",
		"testimony-audit/1 2026-03-04 batch-imported manifest-sha256=" + h + " count=1 researcher-key=\n",
		"testimony-audit/1 2026-03-04 batch-imported manifest-sha256=" + h + " count=1 researcher-key=abcdefgh€\n",
		"testimony-audit/1 2026-03-04 envelopes-purged count=1 count=1\n",
		"testimony-audit/1 2026-03-04 service-stopped\x00\n",
		"testimony-audit/1 2026-03-04 onion-published " + strings.Repeat("x", 300) + "\n",
		"testimony-audit/1 2026-03-04 receipt-accepted receipt-sha256=" + h + "\n",
		"testimony-audit/1 2026-03-04 receipt-accepted manifest-sha256=" + h + " researcher-key=0123-4567-89ab-cdef-0123\n",
		"testimony-audit/1 2026-03-04 receipt-issued receipt-sha256=" + h + " count=1 researcher-key=0123-4567-89ab-cdef-0123\n",
		"testimony-audit/1 2026-03-04 researcher-added\n",
		"testimony-audit/1 2026-03-04 researcher-added count=1 researcher-key=0123-4567-89ab-cdef-0123\n",
		"testimony-audit/1 2026-03-04 handover-written researcher-key=0123-4567-89ab-cdef-0123 count=1\n",
		"testimony-audit/1 2026-03-04 study-version-retired study-sha256=" + h + " count=0\n",
		"testimony-audit/1 2026-03-04 submissions-recovered\n",
	} {
		if r, err := ParseRecord([]byte(text)); err == nil {
			t.Errorf("ParseRecord(%q) = %+v, want an error", text, r)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, r := range allRecords() {
		text, _ := r.MarshalText()
		f.Add(text)
	}
	f.Add([]byte("testimony-audit/1 2026-03-04 batch-exported manifest-sha256=00 count=1\n"))
	f.Add([]byte("testimony-audit/1 9999-12-31 envelopes-purged count=999999999\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		r, err := ParseRecord(text)
		if err != nil {
			return
		}
		again, err := r.MarshalText()
		if err != nil {
			t.Fatalf("ParseRecord(%q) = %+v, which does not encode: %v", text, r, err)
		}
		if string(again) != string(text) {
			t.Fatalf("ParseRecord(%q) re-encodes as %q: the encoding is not canonical", text, again)
		}
	})
}
