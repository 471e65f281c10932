package lease

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvtrace/kvtrace/internal/store"
)

// MaxLeaseTTL is the largest TTL Grant accepts, in seconds (etcd: MaxLeaseTTL).
const MaxLeaseTTL = 9000000000

// expiredRetry is how long an expired lease handed out by Expired waits
// before it is handed out again, in case its revoke proposal was lost
// (etcd: defaultExpiredleaseRetryInterval).
const expiredRetry = 3 * time.Second

var (
	ErrLeaseNotFound    = errors.New("lease not found")
	ErrLeaseExists      = errors.New("lease already exists")
	ErrLeaseTTLTooLarge = errors.New("too large lease TTL")
	ErrNotPrimary       = errors.New("not a primary lessor")
)

// Lease is one granted lease. Its fields are guarded by Lessor.mu.
type Lease struct {
	ID  int64
	TTL int64 // seconds, after raising to the minimum TTL
	// expiry is when the primary revokes the lease; zero on a non-primary.
	expiry time.Time
	// retryAt: Expired handed the lease out and waits until then before
	// handing it out again. Renew does not look at it: an expired lease
	// stays expired until its revoke is applied.
	retryAt time.Time
	keys    map[string]struct{}
	// revokec is closed when the lease is removed.
	revokec chan struct{}
}

// Lessor is the lease table of one member. See doc.go.
type Lessor struct {
	lg *slog.Logger
	// mu guards every field below and every Lease.
	mu      sync.RWMutex
	leases  map[int64]*Lease
	items   map[string]int64 // key -> lease it is attached to
	primary bool
	// demotec is closed by Demote; nil while not primary.
	demotec chan struct{}
	minTTL  int64
	now     func() time.Time
}

// New returns an empty lessor. minTTL (seconds) raises shorter grants, as
// etcd does with (3/2 * election ticks) * heartbeat rounded up.
func New(lg *slog.Logger, minTTL int64) *Lessor {
	if lg == nil {
		lg = slog.Default()
	}
	return &Lessor{
		lg: lg, leases: make(map[int64]*Lease), items: make(map[string]int64),
		minTTL: max(minTTL, 1), now: time.Now,
	}
}

// SetMinTTL changes the minimum TTL of later grants.
func (le *Lessor) SetMinTTL(ttl int64) {
	le.mu.Lock()
	le.minTTL = max(ttl, 1)
	le.mu.Unlock()
}

// Recover rebuilds the table from the store: leases from its `lease`
// bucket, attachments from the Lease field of every live key. Call before
// the first entry is applied.
func (le *Lessor) Recover(s *store.Store) error {
	recs, err := s.Leases()
	if err != nil {
		return err
	}
	rv := s.Read()
	defer rv.End()
	rr, err := rv.Range([]byte{0}, []byte{0}, store.RangeOptions{})
	if err != nil {
		return err
	}
	le.mu.Lock()
	defer le.mu.Unlock()
	for _, r := range recs {
		le.leases[r.ID] = &Lease{ID: r.ID, TTL: r.TTL, keys: make(map[string]struct{}), revokec: make(chan struct{})}
	}
	for _, kv := range rr.KVs {
		if kv.Lease != 0 {
			le.attachLocked(string(kv.Key), kv.Lease)
		}
	}
	le.lg.Info("lease: recovered", "leases", len(le.leases), "attached-keys", len(le.items))
	return nil
}

// Grant adds a lease (applying a LeaseGrant entry).
func (le *Lessor) Grant(id, ttl int64) (*Lease, error) {
	if id == 0 {
		return nil, ErrLeaseNotFound
	}
	if ttl > MaxLeaseTTL {
		return nil, ErrLeaseTTLTooLarge
	}
	le.mu.Lock()
	defer le.mu.Unlock()
	if _, ok := le.leases[id]; ok {
		return nil, ErrLeaseExists
	}
	l := &Lease{ID: id, TTL: max(ttl, le.minTTL), keys: make(map[string]struct{}), revokec: make(chan struct{})}
	if le.primary {
		l.expiry = le.now().Add(time.Duration(l.TTL) * time.Second)
	}
	le.leases[id] = l
	return l, nil
}

// Keys returns the keys attached to lease id, sorted, so every member
// deletes them in the same order (etcd sorts for the same reason: the
// backend hashes must agree).
func (le *Lessor) Keys(id int64) ([]string, bool) {
	le.mu.RLock()
	defer le.mu.RUnlock()
	l := le.leases[id]
	if l == nil {
		return nil, false
	}
	keys := make([]string, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, true
}

// Remove drops lease id (applying a LeaseRevoke entry, AFTER its keys were
// deleted) and wakes renewals waiting for it.
func (le *Lessor) Remove(id int64) {
	le.mu.Lock()
	defer le.mu.Unlock()
	l := le.leases[id]
	if l == nil {
		return
	}
	for k := range l.keys {
		delete(le.items, k)
	}
	delete(le.leases, id)
	close(l.revokec)
}

// Exists reports whether lease id is granted and not revoked.
func (le *Lessor) Exists(id int64) bool {
	le.mu.RLock()
	defer le.mu.RUnlock()
	return le.leases[id] != nil
}

// ApplyChanges attaches and detaches keys after an applied request: a put
// moves its key to the lease it names (or to none), a deletion detaches it
// (etcd does this inside storeTxnWrite.put and deleteRange).
func (le *Lessor) ApplyChanges(changes []*mvccpb.KeyValue) {
	if len(changes) == 0 {
		return
	}
	le.mu.Lock()
	defer le.mu.Unlock()
	for _, kv := range changes {
		k := string(kv.Key)
		if kv.Version == 0 { // a deletion
			le.detachLocked(k)
			continue
		}
		if le.items[k] != kv.Lease {
			le.detachLocked(k)
			if kv.Lease != 0 {
				le.attachLocked(k, kv.Lease)
			}
		}
	}
}

func (le *Lessor) attachLocked(key string, id int64) {
	l := le.leases[id]
	if l == nil {
		// Put checks the lease before writing; a key naming a missing lease
		// can only come from a db written without that check.
		le.lg.Warn("lease: key names an unknown lease", "key", key, "lease", id)
		return
	}
	l.keys[key] = struct{}{}
	le.items[key] = id
}

func (le *Lessor) detachLocked(key string) {
	id, ok := le.items[key]
	if !ok {
		return
	}
	delete(le.items, key)
	if l := le.leases[id]; l != nil {
		delete(l.keys, key)
	}
}

// Renew restarts lease id's TTL on the primary and returns it. A lease that
// already expired is being revoked: Renew waits for the revoke and fails
// with ErrLeaseNotFound, or with ErrNotPrimary if leadership moves first.
func (le *Lessor) Renew(ctx context.Context, id int64) (int64, error) {
	le.mu.RLock()
	if !le.primary {
		le.mu.RUnlock()
		return -1, ErrNotPrimary
	}
	demotec := le.demotec
	l := le.leases[id]
	if l == nil {
		le.mu.RUnlock()
		return -1, ErrLeaseNotFound
	}
	expired := !l.expiry.IsZero() && le.now().After(l.expiry)
	le.mu.RUnlock()
	if expired {
		select {
		case <-l.revokec:
			return -1, ErrLeaseNotFound
		case <-demotec:
			return -1, ErrNotPrimary
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
	le.mu.Lock()
	defer le.mu.Unlock()
	if le.leases[id] == nil {
		return -1, ErrLeaseNotFound
	}
	if !le.primary {
		return -1, ErrNotPrimary
	}
	l.expiry = le.now().Add(time.Duration(l.TTL) * time.Second)
	return l.TTL, nil
}

// TimeToLive returns the granted TTL, the remaining seconds (-1 on a
// non-primary, which does not track time) and the attached keys.
func (le *Lessor) TimeToLive(id int64) (granted, remaining int64, keys []string, err error) {
	keys, ok := le.Keys(id)
	if !ok {
		return 0, 0, nil, ErrLeaseNotFound
	}
	le.mu.RLock()
	defer le.mu.RUnlock()
	l := le.leases[id]
	if l == nil {
		return 0, 0, nil, ErrLeaseNotFound
	}
	remaining = -1
	if !l.expiry.IsZero() {
		// Rounded up like etcd's Lease.Remaining in seconds (ceil).
		d := l.expiry.Sub(le.now())
		remaining = max(int64((d+time.Second-1)/time.Second), 0)
	}
	return l.TTL, remaining, keys, nil
}

// Leases lists every lease id, sorted.
func (le *Lessor) Leases() []int64 {
	le.mu.RLock()
	defer le.mu.RUnlock()
	ids := make([]int64, 0, len(le.leases))
	for id := range le.leases {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// IsPrimary reports whether this lessor decides expiry.
func (le *Lessor) IsPrimary() bool {
	le.mu.RLock()
	defer le.mu.RUnlock()
	return le.primary
}

// Promote makes this lessor primary: every lease expires its full TTL plus
// extend from now, which can only lengthen what the old leader promised.
func (le *Lessor) Promote(extend time.Duration) {
	le.mu.Lock()
	defer le.mu.Unlock()
	le.primary = true
	le.demotec = make(chan struct{})
	now := le.now()
	for _, l := range le.leases {
		l.expiry = now.Add(extend + time.Duration(l.TTL)*time.Second)
		l.retryAt = time.Time{}
	}
	le.lg.Info("lease: promoted to primary", "leases", len(le.leases), "extend", extend)
}

// Demote stops deciding expiry: every lease is held forever until a new
// primary revokes it.
func (le *Lessor) Demote() {
	le.mu.Lock()
	defer le.mu.Unlock()
	if !le.primary {
		return
	}
	le.primary = false
	for _, l := range le.leases {
		l.expiry = time.Time{}
	}
	close(le.demotec)
	le.demotec = nil
	le.lg.Info("lease: demoted")
}

// Expired returns up to limit leases whose expiry passed, on the primary
// only, and not again for expiredRetry, so a lost revoke proposal is
// retried rather than repeated at once (etcd:
// lessor.findExpiredLeases).
func (le *Lessor) Expired(limit int) []int64 {
	le.mu.Lock()
	defer le.mu.Unlock()
	if !le.primary {
		return nil
	}
	now := le.now()
	var ids []int64
	for id, l := range le.leases {
		if len(ids) == limit {
			break
		}
		if !l.expiry.IsZero() && now.After(l.expiry) && now.After(l.retryAt) {
			ids = append(ids, id)
			l.retryAt = now.Add(expiredRetry)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
