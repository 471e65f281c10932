package store

import (
	"encoding/binary"
	"fmt"
)

// bucketAlarm holds the active alarms, as etcd's schema.Alarm bucket: key
// = member id (8 bytes big-endian) | alarm type (4 bytes big-endian),
// empty value.
var bucketAlarm = []byte("alarm")

// Alarm is one active alarm.
type Alarm struct {
	MemberID uint64
	Type     int32 // etcdserverpb.AlarmType
}

// SaveAlarms applies raft entry (index, term) whose effect is the alarm
// list alarms, in one write txn (the list and the consistent index are
// durable together).
func (s *Store) SaveAlarms(index, term uint64, alarms []Alarm) {
	t := s.Write(index, term).(*writeTxn)
	b := s.b
	err := func() error {
		if b.tx.Bucket(bucketAlarm) != nil {
			if err := b.tx.DeleteBucket(bucketAlarm); err != nil {
				return err
			}
		}
		bk, err := b.tx.CreateBucket(bucketAlarm)
		if err != nil {
			return err
		}
		for _, a := range alarms {
			k := make([]byte, 12)
			binary.BigEndian.PutUint64(k, a.MemberID)
			binary.BigEndian.PutUint32(k[8:], uint32(a.Type))
			if err := bk.Put(k, []byte{}); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		panic(fmt.Sprintf("store: save alarms: %v", err))
	}
	b.ops++
	t.End()
}

// Alarms returns the persisted alarms.
func (s *Store) Alarms() ([]Alarm, error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	bk := b.tx.Bucket(bucketAlarm)
	if bk == nil {
		return nil, nil
	}
	var out []Alarm
	err := bk.ForEach(func(k, _ []byte) error {
		if len(k) == 12 {
			out = append(out, Alarm{binary.BigEndian.Uint64(k), int32(binary.BigEndian.Uint32(k[8:]))})
		}
		return nil
	})
	return out, err
}
