//go:build race

package robustness

// raceEnabled makes the suite build kvd with -race too.
const raceEnabled = true
