package store

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type commitLog struct {
	mu    sync.Mutex
	infos []CommitInfo
}

func (c *commitLog) hook(ci CommitInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.infos = append(c.infos, ci)
}

func (c *commitLog) ranges() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s []string
	for _, ci := range c.infos {
		s = append(s, fmt.Sprintf("%d-%d", ci.FirstIndex, ci.LastIndex))
	}
	return fmt.Sprint(s)
}

func TestBatchLimitCommits(t *testing.T) {
	var log commitLog
	cfg := testConfig(t)
	cfg.BatchInterval = time.Hour // only the limit commits
	cfg.BatchLimit = 3
	cfg.Hooks.OnBatchCommit = log.hook
	s := mustOpen(t, cfg)
	defer s.Close()
	for i := uint64(1); i <= 7; i++ {
		put(t, s, i, fmt.Sprint("k", i), "v")
	}
	if got := log.ranges(); got != "[1-3 4-6]" {
		t.Fatalf("commits %s, want [1-3 4-6]", got)
	}
	// Index 7 is applied but not durable until the next commit.
	if err := s.ForceCommit(); err != nil {
		t.Fatal(err)
	}
	if err := s.ForceCommit(); err != nil { // nothing pending: no commit
		t.Fatal(err)
	}
	if got := log.ranges(); got != "[1-3 4-6 7-7]" {
		t.Fatalf("commits %s", got)
	}
	log.mu.Lock()
	first := log.infos[0]
	log.mu.Unlock()
	if first.Ops < 3 || first.Bytes == 0 || first.Start.IsZero() {
		t.Fatalf("commit info %+v", first)
	}
}

func TestBatchIntervalCommits(t *testing.T) {
	var log commitLog
	cfg := testConfig(t)
	cfg.BatchInterval = 5 * time.Millisecond
	cfg.Hooks.OnBatchCommit = log.hook
	s := mustOpen(t, cfg)
	defer s.Close()
	put(t, s, 1, "a", "1")
	w := s.Write(2, 1) // a no-op entry still has to reach disk
	w.End()
	waitFor(t, 10*time.Second, "periodic commit of index 2", func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		return len(log.infos) > 0 && log.infos[len(log.infos)-1].LastIndex == 2
	})
}
