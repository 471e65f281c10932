package store

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The `lease` bucket persists leases for internal/lease, laid out as etcd's
// schema.Lease bucket (server/storage/schema/lease.go): the key is the lease
// id as 8 bytes big-endian, the value a leasepb.Lease message
// {1: ID, 2: TTL, 3: RemainingTTL}, encoded here with protowire because
// leasepb lives in etcd's server module. Lease writes go into the batch tx
// of the write txn that applies the grant or revoke, so they are durable
// together with that entry's consistent index and its key deletions.
var bucketLease = []byte("lease")

// LeaseRecord is one persisted lease.
type LeaseRecord struct {
	ID           int64
	TTL          int64 // granted TTL in seconds
	RemainingTTL int64 // checkpointed remaining TTL; 0 = none
}

func (l LeaseRecord) marshal() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(l.ID))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(l.TTL))
	if l.RemainingTTL != 0 {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(l.RemainingTTL))
	}
	return b
}

// UnmarshalLease decodes a value of the lease bucket (also used by the
// offline inspector, internal/inspect).
func UnmarshalLease(b []byte) (LeaseRecord, error) {
	var l LeaseRecord
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return l, protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.VarintType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return l, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return l, protowire.ParseError(n)
		}
		b = b[n:]
		switch num {
		case 1:
			l.ID = int64(v)
		case 2:
			l.TTL = int64(v)
		case 3:
			l.RemainingTTL = int64(v)
		}
	}
	return l, nil
}

func leaseKey(id int64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(id))
	return k
}

// PutLease writes a lease in the txn's batch. A failure is fatal, as for
// every write inside a txn (writeTxn.write).
func (t *writeTxn) PutLease(l LeaseRecord) {
	b := t.s.b
	bk, err := b.tx.CreateBucketIfNotExists(bucketLease)
	if err == nil {
		err = bk.Put(leaseKey(l.ID), l.marshal())
	}
	if err != nil {
		t.s.lg.Error("store: lease write failed inside a txn", "lease", l.ID, "err", err)
		panic(fmt.Sprintf("store: put lease %x: %v", l.ID, err))
	}
	b.ops++
}

// DeleteLease removes a lease in the txn's batch.
func (t *writeTxn) DeleteLease(id int64) {
	b := t.s.b
	bk := b.tx.Bucket(bucketLease)
	if bk == nil {
		return
	}
	if err := bk.Delete(leaseKey(id)); err != nil {
		t.s.lg.Error("store: lease delete failed inside a txn", "lease", id, "err", err)
		panic(fmt.Sprintf("store: delete lease %x: %v", id, err))
	}
	b.ops++
}

// Leases returns every persisted lease, including those written by the
// open batch (it reads through the batch tx).
func (s *Store) Leases() ([]LeaseRecord, error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if b.failed != nil {
		return nil, b.failed
	}
	bk := b.tx.Bucket(bucketLease)
	if bk == nil {
		return nil, nil
	}
	var out []LeaseRecord
	err := bk.ForEach(func(k, v []byte) error {
		l, err := UnmarshalLease(v)
		if err != nil {
			return fmt.Errorf("store: decode lease %x: %w", k, err)
		}
		out = append(out, l)
		return nil
	})
	return out, err
}
