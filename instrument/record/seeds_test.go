package record

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

var writeSeeds = flag.Bool("fuzzseeds", false, "rewrite the reader's fuzz seed corpus under testdata/fuzz")

// writeSeed writes one seed in the corpus file format of `go test -fuzz`.
func writeSeed(target, name string, data []byte) error {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data), 0o644)
}
