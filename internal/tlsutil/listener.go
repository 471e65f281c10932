package tlsutil

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// HandshakeTimeout bounds a TLS handshake on an accepted connection
// (package doc, step 4).
const HandshakeTimeout = 10 * time.Second

// Listener is a TLS listener whose Accept returns only connections that
// completed their handshake.
type Listener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
	onErr   func(remote net.Addr, err error)

	connc chan net.Conn
	donec chan struct{} // closed when acceptLoop returns
	err   error         // the error that ended acceptLoop; read after donec
}

// NewListener wraps ln. timeout 0 means HandshakeTimeout. onErr, if not
// nil, is told about each failed handshake (a client without a valid
// certificate, a plain-text client, a timeout).
func NewListener(ln net.Listener, cfg *tls.Config, timeout time.Duration, onErr func(remote net.Addr, err error)) *Listener {
	if timeout <= 0 {
		timeout = HandshakeTimeout
	}
	l := &Listener{Listener: ln, cfg: cfg, timeout: timeout, onErr: onErr,
		connc: make(chan net.Conn), donec: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *Listener) acceptLoop() {
	// Closing the listener cancels the handshakes in flight, so Close never
	// waits up to HandshakeTimeout for them.
	base, cancelAll := context.WithCancel(context.Background())
	defer func() {
		cancelAll()
		close(l.donec)
	}()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.err = err // BEFORE donec is closed: Accept reads it after
			return
		}
		go l.handshake(base, c)
	}
}

func (l *Listener) handshake(base context.Context, c net.Conn) {
	tc := tls.Server(c, l.cfg)
	ctx, cancel := context.WithTimeout(base, l.timeout)
	// The deadline also ends a handshake stuck in a blocking read.
	c.SetDeadline(time.Now().Add(l.timeout))
	err := tc.HandshakeContext(ctx)
	cancel()
	c.SetDeadline(time.Time{})
	if err != nil {
		tc.Close()
		if l.onErr != nil && base.Err() == nil {
			l.onErr(c.RemoteAddr(), err)
		}
		return
	}
	select {
	case l.connc <- tc:
	case <-l.donec:
		tc.Close()
	}
}

// Accept returns the next connection that completed its handshake.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.connc:
		return c, nil
	case <-l.donec:
		return nil, l.err
	}
}

// IsTLS reports whether ln is a Listener from this package.
func IsTLS(ln net.Listener) bool {
	_, ok := ln.(*Listener)
	return ok
}
