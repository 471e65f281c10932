package main

import (
	"os"

	bolt "go.etcd.io/bbolt"
)

// lockExclusive opens path the way kvd's store does (read-write bbolt,
// which holds an exclusive flock until Close).
func lockExclusive(path string) (*bolt.DB, error) {
	_ = os.Chmod(path, 0o600)
	return bolt.Open(path, 0o600, nil)
}
