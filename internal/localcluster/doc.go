// Package localcluster starts and controls a cluster of real kvd processes on
// loopback: free ports, one data dir and one log file per member, kill -9,
// SIGTERM, restart with the same flags, and waiting for a leader by polling
// Maintenance.Status. It is used by `kvd demo`, the end-to-end tests and the
// labs, so all of them run the very same processes a user runs.
//
// Config.Wrap and Config.Host run members elsewhere than on loopback; Netns
// (netns.go) gives each member a network namespace of its own, linked by a
// bridge, whose link a test can take down: a real partition.
package localcluster
