package node

import "errors"

// Errors returned to the client API; internal/server maps them to etcd's
// rpctypes errors with the same meaning.
var (
	ErrStopped          = errors.New("node: member stopped")
	ErrTimeout          = errors.New("node: request timed out")
	ErrTimeoutNoLeader  = errors.New("node: request timed out while the cluster had no leader")
	ErrLeaderChanged    = errors.New("node: leader changed while serving a read")
	ErrNoLeader         = errors.New("node: no leader")
	ErrMemberIDMismatch = errors.New("node: the data dir belongs to another member")
)
