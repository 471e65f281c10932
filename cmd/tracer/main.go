// Command tracer walks the spans kvd members record: one write at a time, one
// lane per member, in a terminal UI or as text and JSON for scripts.
package main

import (
	"os"

	"golang.org/x/term"
)

func main() {
	tty := term.IsTerminal(int(os.Stdout.Fd())) && term.IsTerminal(int(os.Stdin.Fd()))
	os.Exit(run(os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, tty: tty}))
}
