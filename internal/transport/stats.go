package transport

import (
	"context"
	"time"
)

// PeerStats are the counters of one peer. Sent/Bytes/Dropped/Oversize/
// FaultDropped are about messages to the peer, Received about messages from it.
type PeerStats struct {
	Sent         uint64 // envelopes written to the stream
	Bytes        uint64 // bytes of the batch frames that carried them
	Dropped      uint64 // queue full, or lost when a stream broke
	Oversize     uint64 // larger than MaxMsgBytes; never sent
	FaultDropped uint64 // dropped by a FaultRule
	Queued       int    // waiting in the send queue now
	Connects     uint64 // streams established
	Reconnects   uint64 // streams established after the first
	DialFailures uint64 // failed connect or handshake attempts
	Received     uint64 // envelopes from this peer handed to Process
	Connected    bool
	ActiveSince  time.Time // zero when not connected
}

func (p *peer) stats() PeerStats {
	since := p.activeSince()
	connects := p.connects.Load()
	return PeerStats{
		Sent:         p.sent.Load(),
		Bytes:        p.bytes.Load(),
		Dropped:      p.dropped.Load(),
		Oversize:     p.oversize.Load(),
		FaultDropped: p.faultDropped.Load(),
		Queued:       len(p.queue),
		Connects:     connects,
		Reconnects:   max(connects, 1) - 1,
		DialFailures: p.dialFailures.Load(),
		Received:     p.received.Load(),
		Connected:    !since.IsZero(),
		ActiveSince:  since,
	}
}

// nopHandler stands in when Config.Handler is nil.
type nopHandler struct{}

func (nopHandler) Process(context.Context, Envelope) error { return nil }
func (nopHandler) IsIDRemoved(uint64) bool                 { return false }
func (nopHandler) ReportUnreachable(uint64)                {}
