package main

import (
	"expvar"
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

// handleDebugVars serves the process's expvars as one JSON object at
// /debug/vars, GET only, as etcd does on every client URL
// (server/etcdserver/api/etcdhttp/debug.go, HandleDebug).
func handleDebugVars(mux *http.ServeMux) {
	vars := expvar.Handler()
	mux.HandleFunc("/debug/vars", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		vars.ServeHTTP(w, r)
	})
}
