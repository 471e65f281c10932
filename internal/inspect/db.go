package inspect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/internal/store"
)

// ErrDBLocked says another process (normally the running member) holds the
// db's exclusive lock.
var ErrDBLocked = errors.New("the db file is locked by another process (a running kvd?): stop the member, or copy the file and inspect the copy")

// Bucket and meta key names, as internal/store writes them (its doc.go).
var (
	bucketKey   = []byte("key")
	bucketMeta  = []byte("meta")
	bucketLease = []byte("lease")
)

// DB is an open, read-only bbolt file.
type DB struct {
	db   *bolt.DB
	path string
}

// OpenDB opens path read-only, waiting at most timeout for the file lock.
func OpenDB(path string, timeout time.Duration) (*DB, error) {
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w (waited %v)", path, ErrDBLocked, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &DB{db: db, path: path}, nil
}

// Close releases the file.
func (d *DB) Close() error { return d.db.Close() }

// BucketInfo is one top-level bucket.
type BucketInfo struct {
	Name string `json:"name"`
	Keys int    `json:"keys"`
}

// Buckets lists the top-level buckets in name order with their key counts.
func (d *DB) Buckets() ([]BucketInfo, error) {
	var out []BucketInfo
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			out = append(out, BucketInfo{Name: string(name), Keys: b.Stats().KeyN})
			return nil
		})
	})
	return out, err
}

// MetaItem is one key of the meta bucket.
type MetaItem struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
	Raw   string `json:"raw,omitempty"` // a value that is not 8 bytes
}

// Meta returns the meta bucket (consistent index, term, compaction revisions).
func (d *DB) Meta() ([]MetaItem, error) {
	var out []MetaItem
	err := d.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			it := MetaItem{Name: string(k)}
			if len(v) == 8 {
				it.Value = binary.BigEndian.Uint64(v)
			} else {
				it.Raw = fmt.Sprintf("%x", v)
			}
			out = append(out, it)
			return nil
		})
	})
	return out, err
}

func (d *DB) meta(name string) (uint64, bool) {
	ms, err := d.Meta()
	if err != nil {
		return 0, false
	}
	for _, m := range ms {
		if m.Name == name && m.Raw == "" {
			return m.Value, true
		}
	}
	return 0, false
}

// KV is one `key` bucket record: a revision of a key.
type KV struct {
	Main      int64  `json:"main"`
	Sub       int64  `json:"sub"`
	Tombstone bool   `json:"tombstone,omitempty"`
	Key       string `json:"key"`
	Value     string `json:"value,omitempty"`
	Create    int64  `json:"create_revision,omitempty"`
	Mod       int64  `json:"mod_revision,omitempty"`
	Version   int64  `json:"version,omitempty"`
	Lease     int64  `json:"lease,omitempty"`
	Raw       string `json:"raw,omitempty"` // an undecodable bucket key or value
}

// Revisions returns every record of the key bucket in revision order.
func (d *DB) Revisions() ([]KV, error) {
	var out []KV
	err := d.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKey)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out = append(out, decodeKV(k, v))
			return nil
		})
	})
	return out, err
}

func decodeKV(k, v []byte) KV {
	var kv KV
	switch {
	case len(k) == 17 && k[8] == '_':
	case len(k) == 18 && k[8] == '_' && k[17] == 't':
		kv.Tombstone = true
	default:
		kv.Raw = fmt.Sprintf("bucket key %x", k)
		return kv
	}
	kv.Main = int64(binary.BigEndian.Uint64(k[0:8]))
	kv.Sub = int64(binary.BigEndian.Uint64(k[9:17]))
	var m mvccpb.KeyValue
	if err := proto.Unmarshal(v, &m); err != nil {
		kv.Raw = fmt.Sprintf("undecodable KeyValue (%v)", err)
		return kv
	}
	kv.Key, kv.Value = string(m.GetKey()), string(m.GetValue())
	kv.Create, kv.Mod, kv.Version, kv.Lease = m.GetCreateRevision(), m.GetModRevision(), m.GetVersion(), m.GetLease()
	return kv
}

// ErrRevCompacted says the history at the asked revision was compacted away.
var ErrRevCompacted = errors.New("revision is below the compacted revision")

// StateAt returns the live keys as of revision rev (the newest revision <=
// rev of each key, unless that is a tombstone), in key order, like a Range
// over all keys at rev. Revisions below the finished compaction are refused:
// compaction kept only the newest version of each key at or below it.
func (d *DB) StateAt(rev int64) ([]KV, error) {
	if c, ok := d.meta("finishedCompactRev"); ok && rev < int64(c) {
		return nil, fmt.Errorf("--rev %d: %w %d", rev, ErrRevCompacted, c)
	}
	all, err := d.Revisions()
	if err != nil {
		return nil, err
	}
	latest := map[string]KV{}
	for _, kv := range all {
		if kv.Raw != "" || kv.Main > rev {
			continue
		}
		latest[kv.Key] = kv // revision order: a later one wins
	}
	var out []KV
	for _, kv := range latest {
		if !kv.Tombstone {
			out = append(out, kv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Lease is one record of the lease bucket (etcd's leasepb.Lease layout).
type Lease struct {
	ID           int64  `json:"id"`
	TTL          int64  `json:"ttl"`
	RemainingTTL int64  `json:"remaining_ttl,omitempty"`
	Raw          string `json:"raw,omitempty"`
}

// Leases returns the lease bucket, if there is one, in id order.
func (d *DB) Leases() ([]Lease, error) {
	var out []Lease
	err := d.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLease)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out = append(out, decodeLease(v))
			return nil
		})
	})
	return out, err
}

func decodeLease(b []byte) Lease {
	l, err := store.UnmarshalLease(b)
	if err != nil {
		return Lease{Raw: fmt.Sprintf("%x", b)}
	}
	return Lease{ID: l.ID, TTL: l.TTL, RemainingTTL: l.RemainingTTL}
}

// WriteKV prints one key bucket record as a line.
func WriteKV(w io.Writer, kv KV) error {
	if kv.Raw != "" && kv.Key == "" {
		_, err := fmt.Fprintf(w, "%d.%d\t%s\n", kv.Main, kv.Sub, kv.Raw)
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d.%d\t", kv.Main, kv.Sub)
	if kv.Tombstone {
		fmt.Fprintf(&b, "del key=%s (tombstone)", quote([]byte(kv.Key)))
	} else {
		fmt.Fprintf(&b, "put key=%s value=%s create=%d mod=%d version=%d", quote([]byte(kv.Key)), quote([]byte(kv.Value)), kv.Create, kv.Mod, kv.Version)
		if kv.Lease != 0 {
			fmt.Fprintf(&b, " lease=%x", kv.Lease)
		}
	}
	if kv.Raw != "" {
		b.WriteString(" " + kv.Raw)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// Pair is one key/value of a bucket this package has no decoder for.
type Pair struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Other returns the records of every bucket other than key, meta and lease,
// quoted and cut to a line, by bucket name.
func (d *DB) Other() (map[string][]Pair, error) {
	out := map[string][]Pair{}
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if bytes.Equal(name, bucketKey) || bytes.Equal(name, bucketMeta) || bytes.Equal(name, bucketLease) {
				return nil
			}
			ps := []Pair{}
			err := b.ForEach(func(k, v []byte) error {
				ps = append(ps, Pair{Key: quote(k), Value: quote(v)})
				return nil
			})
			out[string(name)] = ps
			return err
		})
	})
	return out, err
}
