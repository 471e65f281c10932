package localcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildKVD builds cmd/kvd into dir and returns the binary's path. Extra go
// build flags (e.g. "-race", "-gcflags=all=-N -l") go before the package.
// Test packages build the daemon once this way and start it with Start.
func BuildKVD(dir string, flags ...string) (string, error) {
	bin := filepath.Join(dir, "kvd")
	args := append(append([]string{"build", "-o", bin}, flags...), "github.com/kvtrace/kvtrace/cmd/kvd")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building kvd: %v\n%s", err, out)
	}
	return bin, nil
}

// BuildKVDForTests builds kvd into a new temporary directory for a test
// binary's TestMain (with -race when the tests run with it) and returns it
// with the function that removes the directory.
func BuildKVDForTests(race bool) (bin string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "kvtrace-kvd-bin-")
	if err != nil {
		return "", func() {}, fmt.Errorf("building kvd: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	var flags []string
	if race {
		flags = append(flags, "-race")
	}
	if bin, err = BuildKVD(dir, flags...); err != nil {
		cleanup()
		return "", func() {}, err
	}
	return bin, cleanup, nil
}
