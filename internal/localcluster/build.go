package localcluster

import (
	"fmt"
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
