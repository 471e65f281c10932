package main

import (
	"net/http"
	"net/http/pprof"
)

// handlePprof serves Go's profiler under /debug/pprof/ (--enable-pprof),
// the prefix etcd uses (pkg/debugutil, HTTPPrefixPProf).
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
