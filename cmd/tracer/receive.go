package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

const receiveHelp = `Runs an OTLP trace receiver: OTLP/gRPC (TraceService/Export) on --grpc-addr
and OTLP/HTTP (POST /v1/traces, application/x-protobuf or application/json)
on --http-addr. Every request is appended to --out as one line of OTLP JSON,
the format of kvd's own span files, so the file opens with any tracer command
(tracer show spans.jsonl) while or after it is written. One summary line per
request goes to stdout; SIGINT or SIGTERM stops the receiver cleanly.

Point kvd at it with: kvd --trace-otlp-endpoint 127.0.0.1:4317
Listens on loopback only unless --allow-remote; an empty address turns that
transport off. With --tui the interactive viewer shows the writes as they
arrive (needs a terminal).`

// runReceive is 'tracer receive'.
func runReceive(args []string, e env) error {
	fs := newFlags("receive", "receive [--grpc-addr ADDR] [--http-addr ADDR] [--out FILE] [--tui]", receiveHelp, e)
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:4317", "OTLP/gRPC listen address (\"\" = off)")
	httpAddr := fs.String("http-addr", "127.0.0.1:4318", "OTLP/HTTP listen address (\"\" = off)")
	out := fs.String("out", "spans.jsonl", "file to append received requests to, one OTLP JSON line each")
	allowRemote := fs.Bool("allow-remote", false, "allow listen addresses that are not loopback")
	tui := fs.Bool("tui", false, "show the received writes live in the interactive viewer")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(paths) > 0 {
		fmt.Fprintf(e.stderr, "tracer receive: unexpected arguments %q\n", paths)
		return errUsage
	}
	for _, a := range []struct{ flag, addr string }{{"--grpc-addr", *grpcAddr}, {"--http-addr", *httpAddr}} {
		if a.addr == "" || *allowRemote {
			continue
		}
		if err := checkLoopback(a.addr); err != nil {
			return fmt.Errorf("%s %s: %v; pass --allow-remote to listen there anyway", a.flag, a.addr, err)
		}
	}
	if *tui && !e.tty {
		return fmt.Errorf("receive --tui needs a terminal (stdin and stdout)")
	}

	// Stop on SIGINT/SIGTERM. Registered BEFORE the listeners open, so a
	// signal sent once the "listening" line is out is never fatal.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var live *liveFeed
	var mu sync.Mutex // serialises writes to stdout
	say := func(w io.Writer, format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, format, a...)
	}
	cfg := receiverConfig{GRPCAddr: *grpcAddr, HTTPAddr: *httpAddr, Out: *out}
	if *tui {
		live = newLiveFeed(*out)
		cfg.OnBatch = live.add
	} else {
		cfg.OnBatch = func(b batch) { say(e.stdout, "%s\n", b) }
	}
	r, err := startReceiver(cfg)
	if err != nil {
		return err
	}
	var runErr error
	if *tui {
		runErr = runLiveTUI(ctx, live, r, e)
	} else {
		say(e.stdout, "receiving OTLP on grpc %s, http %s; appending to %s (ctrl-c stops)\n",
			orOff(r.GRPCAddr()), orOff(r.HTTPAddr()), *out)
		select {
		case <-ctx.Done():
		case runErr = <-r.Err():
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Close(sctx); err != nil && runErr == nil {
		runErr = err
	}
	reqs, spans := r.Totals()
	say(e.stdout, "stopped: %d requests, %d spans appended to %s\n", reqs, spans, *out)
	return runErr
}

func orOff(addr string) string {
	if addr == "" {
		return "off"
	}
	return addr
}

// checkLoopback accepts host:port whose host is "localhost" or a loopback
// IP. An empty host (":4317") means every interface and is refused.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("not a loopback address")
}
