package store

import (
	"encoding/binary"
	"fmt"
)

// Membership buckets, named as in etcd's schema (server/storage/schema/
// bucket.go): `members` maps an 8-byte big-endian member id to the member's
// encoding (opaque here; internal/node defines it), `members_removed` holds
// the ids of removed members with an empty value.
var (
	bucketMembers        = []byte("members")
	bucketMembersRemoved = []byte("members_removed")
)

// SaveMembers applies raft entry (index, term) whose effect is the member
// list members (id -> encoding) and the removed ids. It replaces both
// buckets in the batch tx and records (index, term) as applied, so the
// member list and the consistent index are durable TOGETHER: a restart
// never sees a conf change applied to one and not the other.
func (s *Store) SaveMembers(index, term uint64, members map[uint64][]byte, removed []uint64) {
	t := s.Write(index, term).(*writeTxn)
	b := s.b
	err := func() error {
		for _, name := range [][]byte{bucketMembers, bucketMembersRemoved} {
			if b.tx.Bucket(name) != nil {
				if err := b.tx.DeleteBucket(name); err != nil {
					return err
				}
			}
		}
		mb, err := b.tx.CreateBucket(bucketMembers)
		if err != nil {
			return err
		}
		rb, err := b.tx.CreateBucket(bucketMembersRemoved)
		if err != nil {
			return err
		}
		for id, v := range members {
			if err := mb.Put(u64Bytes(id), v); err != nil {
				return err
			}
			b.ops++
		}
		for _, id := range removed {
			if err := rb.Put(u64Bytes(id), []byte{}); err != nil {
				return err
			}
			b.ops++
		}
		return nil
	}()
	if err != nil {
		s.lg.Error("store: membership write failed inside a txn", "err", err)
		panic(fmt.Sprintf("store: save members: %v", err))
	}
	b.ops++ // commit even if the list is empty
	t.End()
}

// Members returns the persisted member list and removed ids (through the
// batch tx, so it sees SaveMembers not yet committed). ok is false when
// nothing was ever saved: the member has not applied a conf change yet.
func (s *Store) Members() (members map[uint64][]byte, removed []uint64, ok bool, err error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, false, ErrClosed
	}
	if b.failed != nil {
		return nil, nil, false, b.failed
	}
	mb := b.tx.Bucket(bucketMembers)
	if mb == nil {
		return nil, nil, false, nil
	}
	members = map[uint64][]byte{}
	err = mb.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("store: member key %x is not 8 bytes", k)
		}
		members[binary.BigEndian.Uint64(k)] = append([]byte(nil), v...)
		return nil
	})
	if err != nil {
		return nil, nil, false, err
	}
	if rb := b.tx.Bucket(bucketMembersRemoved); rb != nil {
		err = rb.ForEach(func(k, _ []byte) error {
			if len(k) == 8 {
				removed = append(removed, binary.BigEndian.Uint64(k))
			}
			return nil
		})
	}
	return members, removed, true, err
}
