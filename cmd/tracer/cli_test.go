package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
)

var fixture = filepath.Join("testdata", "fixture")

// tracer runs the command line in-process without a terminal.
func tracer(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, env{stdin: strings.NewReader(""), stdout: &o, stderr: &e, tty: false})
	return o.String(), e.String(), code
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := tracer(t, args...)
	if code != 0 {
		t.Fatalf("tracer %v: exit %d: %s", args, code, errOut)
	}
	return out
}

func TestShowGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"latest", []string{"show", fixture}},
		{"write2", []string{"show", "--write", "2", fixture}},
		{"batched", []string{"show", fixture, "--key", "b"}},
	} {
		t.Run(c.name, func(t *testing.T) { golden.RequireEqual(t, []byte(mustRun(t, c.args...))) })
	}
}

func TestShowJSONGolden(t *testing.T) {
	out := mustRun(t, "show", "--json", "--write", "3", fixture)
	var doc struct {
		Write  map[string]any   `json:"write"`
		Lanes  []string         `json:"lanes"`
		Events []map[string]any `json:"events"`
		Stages []map[string]any `json:"stages"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Write["n"] != 3.0 || len(doc.Lanes) != 4 || len(doc.Events) == 0 || len(doc.Stages) == 0 {
		t.Fatalf("unexpected document: %.300s", out)
	}
	golden.RequireEqual(t, []byte(out))
}

func TestStatsGolden(t *testing.T) {
	t.Run("text", func(t *testing.T) { golden.RequireEqual(t, []byte(mustRun(t, "stats", fixture))) })
	t.Run("json", func(t *testing.T) { golden.RequireEqual(t, []byte(mustRun(t, "stats", "--json", fixture))) })
}

func TestListGolden(t *testing.T) {
	golden.RequireEqual(t, []byte(mustRun(t, "list", fixture)))
}

// TestNoTTYPrintsShow: 'tracer PATHS' without a terminal prints the latest
// write instead of starting the TUI, so scripts and CI never hang.
func TestNoTTYPrintsShow(t *testing.T) {
	if got, want := mustRun(t, fixture), mustRun(t, "show", fixture); got != want {
		t.Fatalf("tracer PATHS without a TTY:\n%s\nwant show output:\n%s", got, want)
	}
	if _, errOut, code := tracer(t, "tui", fixture); code != 1 || !strings.Contains(errOut, "needs a terminal") {
		t.Fatalf("tui without a TTY: exit %d %q", code, errOut)
	}
}

func TestCLIErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"show", "--write", "99", fixture}, 1, "--write 99: there are writes 1..7"},
		{[]string{"show", "--key", "nope", fixture}, 1, `--key "nope": no write to that key`},
		{[]string{"show"}, 1, "no PATHS given"},
		{[]string{"show", "--bogus", fixture}, 2, "flag provided but not defined"},
		{[]string{"stats", "does/not/exist"}, 1, "does/not/exist"},
		{[]string{}, 2, "usage: tracer"},
	} {
		_, errOut, code := tracer(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("tracer %v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	if out := mustRun(t, "show", "-h"); out != "" {
		t.Errorf("help went to stdout: %q", out)
	}
}
