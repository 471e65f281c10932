package main

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/kvtrace/kvtrace/internal/server"
)

// http2Preface starts every HTTP/2 connection (RFC 9113 §3.4).
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// serveClients serves gRPC and etcd's JSON gateway on every client
// listener, like etcd on an insecure client URL (server/embed/serve.go,
// serveCtx.serve, which splits one port with cmux): a connection that opens
// with the HTTP/2 preface is gRPC, anything else is HTTP/1.x for the
// gateway. The returned stop closes the listeners, the gateway's HTTP
// connections and its loopback gRPC connection; stop it BEFORE the gRPC
// server, so gateway streams do not hold up a graceful stop.
//
// web (http_serve.go) adds etcd's HTTP endpoints (/metrics, /health, ...)
// in front of the gateway. When it has HTTP-only listeners
// (--listen-client-http-urls) those serve the HTTP side, dialing the first
// listener's gRPC, and lns serve gRPC only, as etcd splits them.
func serveClients(lg *slog.Logger, g *grpc.Server, lns []net.Listener, web *clientWeb) (stop func()) {
	var (
		https  []*http.Server
		closes []func() error
	)
	serveHTTP := func(ln, grpcTarget net.Listener, grpcLn *chanListener, httpLn net.Listener) {
		gwh, closeGW, err := server.Gateway(context.Background(), loopbackAddr(grpcTarget.Addr()),
			gatewayDialOptions(grpcTarget, grpcLn)...) // TLS port: in memory (tls.go)
		if err != nil {
			// The gRPC API still works; the gateway is the optional half.
			lg.Error("JSON gateway disabled on this listener", "address", ln.Addr().String(), "error", err)
			return
		}
		hs := &http.Server{Handler: web.handler(gwh), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(httpLn)
		https = append(https, hs)
		closes = append(closes, closeGW)
	}
	var firstGRPC *chanListener
	for _, ln := range lns {
		grpcLn := newChanListener(ln.Addr())
		httpLn := newChanListener(ln.Addr())
		go splitConns(lg, ln, grpcLn, httpLn)
		go g.Serve(grpcLn)
		if firstGRPC == nil {
			firstGRPC = grpcLn
		}
		if len(web.httpOnly) > 0 {
			httpLn.Close() // HTTP/1 connections are closed
			lg.Info("ready to serve client requests", "address", ln.Addr().String(), "protocols", "grpc")
			continue
		}
		serveHTTP(ln, ln, grpcLn, httpLn)
		lg.Info("ready to serve client requests", "address", ln.Addr().String(), "protocols", "grpc,http-json-gateway")
	}
	for _, ln := range web.httpOnly {
		serveHTTP(ln, lns[0], firstGRPC, ln)
		lg.Info("ready to serve client requests", "address", ln.Addr().String(), "protocols", "http-json-gateway")
	}
	return func() {
		for _, ln := range lns {
			ln.Close()
		}
		closeAll(web.httpOnly)
		for _, hs := range https {
			hs.Close()
		}
		for _, c := range closes {
			c()
		}
	}
}

// loopbackAddr turns a wildcard listen address into one the gateway can dial.
func loopbackAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
}

// splitConns accepts from ln until it is closed and hands each connection
// to grpcLn or httpLn by its first bytes. The sniff runs per connection, so
// a slow client cannot hold up others.
func splitConns(lg *slog.Logger, ln net.Listener, grpcLn, httpLn *chanListener) {
	defer grpcLn.Close()
	defer httpLn.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				lg.Warn("client listener failed", "address", ln.Addr().String(), "error", err)
			}
			return
		}
		go func() {
			br := bufio.NewReaderSize(c, 64)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			isH2 := true
			for i := 1; i <= len(http2Preface); i++ {
				b, err := br.Peek(i)
				if err != nil {
					c.Close()
					return
				}
				if b[i-1] != http2Preface[i-1] {
					isH2 = false
					break
				}
			}
			c.SetReadDeadline(time.Time{})
			sc := &sniffedConn{Conn: c, r: br}
			if isH2 {
				grpcLn.deliver(sc)
			} else {
				httpLn.deliver(sc)
			}
		}()
	}
}

// sniffedConn replays the peeked bytes before reading on.
type sniffedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *sniffedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener is a net.Listener fed by splitConns.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener(a net.Addr) *chanListener {
	return &chanListener{addr: a, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
