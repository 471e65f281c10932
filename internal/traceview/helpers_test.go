package traceview_test

import (
	"flag"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kvtrace/kvtrace/internal/traceview"
	"github.com/kvtrace/kvtrace/internal/traceview/fixturegen"
)

var regenFixture = flag.Bool("fixture", false, "rewrite cmd/tracer/testdata/fixture from fixturegen.Fixture()")

// fixtureDir is the checked-in fixture the tracer's goldens are made from.
var fixtureDir = filepath.Join("..", "..", "cmd", "tracer", "testdata", "fixture")

var (
	genOnce sync.Once
	genDir  string
	genErr  error
)

// generated loads a fresh fixturegen.Fixture() run. The unit tests assert on
// the generator's run, not on the checked-in files, so they keep passing when
// the lead replaces those files with a recording of a real cluster.
func generated(t *testing.T) *traceview.Trace {
	t.Helper()
	genOnce.Do(func() {
		genDir, genErr = mkTemp()
		if genErr == nil {
			genErr = fixturegen.WriteDir(genDir, fixturegen.Fixture())
		}
	})
	if genErr != nil {
		t.Fatal(genErr)
	}
	tr, err := traceview.Load(genDir)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestRegenFixture rewrites the checked-in fixture with -fixture.
func TestRegenFixture(t *testing.T) {
	if !*regenFixture {
		t.Skip("run with -fixture to rewrite cmd/tracer/testdata/fixture")
	}
	if err := fixturegen.WriteDir(fixtureDir, fixturegen.Fixture()); err != nil {
		t.Fatal(err)
	}
}
