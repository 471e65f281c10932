//go:build race

package e2e

// raceEnabled makes the harness build kvd with -race too.
const raceEnabled = true
