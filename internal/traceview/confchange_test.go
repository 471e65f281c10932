package traceview_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvtrace/kvtrace/internal/traceview"
)

// TestConfChangeIsKnownAndShown: a raft.conf_change span (written by every
// member that applies a conf change) is kept, not skipped as unknown, and the
// stats header lists the change once with the members that applied it.
func TestConfChangeIsKnownAndShown(t *testing.T) {
	dir := t.TempDir()
	for i, m := range []string{"m1", "m2", "m3"} {
		line := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.instance.id","value":{"stringValue":%q}}]},`+
			`"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319%d","spanId":"b7ad6b716920333%d","name":"raft.conf_change",`+
			`"kind":1,"startTimeUnixNano":"1741944413000000000","endTimeUnixNano":"1741944413000100000","attributes":[`+
			`{"key":"raft.index","value":{"intValue":"12"}},{"key":"raft.entry_term","value":{"intValue":"2"}},`+
			`{"key":"raft.conf_change","value":{"stringValue":"ConfChangeAddLearnerNode 8e9e05c52164694d"}}]}]}]}]}`, m, i, i)
		if err := os.WriteFile(filepath.Join(dir, m+".jsonl"), []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := traceview.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tr.UnknownCount() != 0 || len(tr.Spans) != 3 {
		t.Fatalf("unknown %v, %d spans kept", tr.Unknown, len(tr.Spans))
	}
	want := "raft.conf_change 12 ConfChangeAddLearnerNode 8e9e05c52164694d (applied on m1,m2,m3)"
	if got := tr.ConfChanges(); len(got) != 1 || got[0] != want {
		t.Fatalf("ConfChanges() = %q, want [%q]", got, want)
	}
	var b strings.Builder
	if err := traceview.WriteStats(&b, tr, tr.Stats()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), want) {
		t.Fatalf("stats do not show the conf change:\n%s", b.String())
	}
}
