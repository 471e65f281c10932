// Package e2e holds end-to-end tests: real kvd processes on loopback driven by
// the real etcd client (clientv3) and the real etcdctl (go tool etcdctl).
package e2e
