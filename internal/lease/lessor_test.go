package lease

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

func newTestLessor(now *time.Time) *Lessor {
	le := New(slog.New(slog.NewTextHandler(io.Discard, nil)), 1)
	le.now = func() time.Time { return *now }
	return le
}

// TestPromoteExtendsNeverShortens: a new primary gives every lease its
// full TTL plus the extension; only the primary expires leases; an expired
// lease is handed out once per retry interval.
func TestPromoteExtendsNeverShortens(t *testing.T) {
	now := time.Unix(1000, 0)
	le := newTestLessor(&now)
	if _, err := le.Grant(1, 10); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if ids := le.Expired(10); len(ids) != 0 {
		t.Fatalf("a follower expired %v", ids)
	}
	le.Promote(2 * time.Second)
	if _, rem, _, _ := le.TimeToLive(1); rem != 12 {
		t.Fatalf("remaining after promote = %d, want 12 (TTL + extension)", rem)
	}
	now = now.Add(11 * time.Second)
	if ids := le.Expired(10); len(ids) != 0 {
		t.Fatalf("expired before TTL+extension: %v", ids)
	}
	now = now.Add(2 * time.Second)
	if ids := le.Expired(10); len(ids) != 1 {
		t.Fatalf("not expired after TTL+extension: %v", ids)
	}
	if ids := le.Expired(10); len(ids) != 0 {
		t.Fatalf("handed out twice within the retry interval: %v", ids)
	}
	// A renew of an expired lease waits for the revoke.
	done := make(chan error, 1)
	go func() { _, err := le.Renew(context.Background(), 1); done <- err }()
	le.Remove(1)
	if err := <-done; !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("renew of a revoked lease: %v", err)
	}
	le.Demote()
	if _, err := le.Renew(context.Background(), 1); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("renew on a demoted lessor: %v", err)
	}
}

func TestApplyChangesAttachDetach(t *testing.T) {
	now := time.Unix(1000, 0)
	le := newTestLessor(&now)
	le.Grant(1, 10)
	le.Grant(2, 10)
	le.ApplyChanges([]*mvccpb.KeyValue{
		{Key: []byte("a"), Lease: 1, Version: 1}, {Key: []byte("b"), Lease: 1, Version: 1},
	})
	le.ApplyChanges([]*mvccpb.KeyValue{{Key: []byte("a"), Lease: 2, Version: 2}}) // moved
	le.ApplyChanges([]*mvccpb.KeyValue{{Key: []byte("b")}})                       // deleted
	if k, _ := le.Keys(1); len(k) != 0 {
		t.Fatalf("lease 1 keys %v, want none", k)
	}
	if k, _ := le.Keys(2); len(k) != 1 || k[0] != "a" {
		t.Fatalf("lease 2 keys %v, want [a]", k)
	}
}
