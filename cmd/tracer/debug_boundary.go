package main

import (
	"fmt"
	"strings"

	"github.com/kvtrace/kvtrace/instrument/names"
)

// checkAnchor refuses a --boundary that no boundary passes to
// instrument.Anchor: delve would wait for a stop that can never come.
func checkAnchor(boundary string) error {
	if boundary == "" {
		return nil
	}
	if id, ok := names.Lookup(boundary); ok && id.Is(names.Anchor) {
		return nil
	}
	return fmt.Errorf("--boundary %q is not a debugger anchor; anchors are: %s", boundary, strings.Join(names.Of(names.Anchor), ", "))
}
