package main

import (
	"net/http"
	"strings"
)

// allowAllOrigins is etcd's default --cors ("*").
var allowAllOrigins = map[string]bool{"*": true}

// accessControl wraps the client port's HTTP handler as etcd's
// accessController does (server/embed/serve.go): /v3beta/ paths are served
// as /v3/, responses carry CORS headers for the allowed origins ("*" allows
// every origin), and an OPTIONS preflight is answered 200 with no body.
func accessControl(origins map[string]bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v3beta/") {
			r.URL.Path = "/v3/" + strings.TrimPrefix(r.URL.Path, "/v3beta/")
		}
		if origins["*"] {
			addCORSHeaders(w, "*")
		} else if o := r.Header.Get("Origin"); origins[o] {
			addCORSHeaders(w, o)
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func addCORSHeaders(w http.ResponseWriter, origin string) {
	w.Header().Add("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE")
	w.Header().Add("Access-Control-Allow-Origin", origin)
	w.Header().Add("Access-Control-Allow-Headers", "accept, content-type, authorization")
}
