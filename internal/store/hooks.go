package store

// SetHooks replaces the store's hooks after Open (the tracing layer is built
// after the store). It takes the batch-tx lock, so it never races a commit.
func (s *Store) SetHooks(h Hooks) {
	s.b.mu.Lock()
	s.b.hooks = h
	s.b.mu.Unlock()
}
