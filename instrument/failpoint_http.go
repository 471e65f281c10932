package instrument

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// gofail v0.2.0 serves its control protocol only from its package init when
// GOFAIL_HTTP is set, and its handler is unexported. This handler speaks the
// same protocol, but through SetFailpoint and ClearFailpoint so the fast path
// and the pause convention stay right:
//
//	GET    /            every failpoint of names.go as "name=term" lines, sorted
//	GET    /name        the term of name (404 when it is off)
//	GET    /name/count  boundary crossings since the term was set (gofail
//	                    counts term firings; the two differ once a count
//	                    such as 2*sleep(1) is used up)
//	PUT    /name        set name's terms to the request body
//	PUT    /failpoints  body "a=term;b=term" sets several
//	DELETE /name        turn name off
type failpointHandler struct{}

var failpointsAddr atomic.Value // string: address EnableFailpoints listens on

// EnableFailpoints serves the failpoint control protocol on addr (host:port;
// port 0 picks a free one, see FailpointsAddr) until the process exits. It
// REFUSES any address that is not loopback: whoever reaches the endpoint can
// stall or crash the member.
func EnableFailpoints(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("instrument: failpoint address %q: %w", addr, err)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("instrument: refusing to serve failpoints on %q: only loopback addresses "+
			"(127.0.0.1, ::1, localhost) are allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("instrument: failpoint listener: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		ln.Close()
		return fmt.Errorf("instrument: refusing to serve failpoints: %q resolved to non-loopback %v", addr, ln.Addr())
	}
	failpointsAddr.Store(ln.Addr().String())
	srv := &http.Server{Handler: failpointHandler{}, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // runs for the life of the process
	return nil
}

// FailpointsAddr returns the address the last EnableFailpoints call listens
// on ("" if none), e.g. to print the port chosen for 127.0.0.1:0.
func FailpointsAddr() string {
	s, _ := failpointsAddr.Load().(string)
	return s
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (failpointHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/")
	switch r.Method {
	case http.MethodPut:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		terms := map[string]string{key: string(body)}
		if strings.EqualFold(key, "failpoints") {
			if terms, err = parseFailpointList(string(body)); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		for name, t := range terms {
			if err := SetFailpoint(name, t); err != nil {
				http.Error(w, "fail to set failpoint: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		switch {
		case key == "":
			names := make([]string, 0, len(failpoints))
			for name := range failpoints {
				names = append(names, name)
			}
			sort.Strings(names)
			var b strings.Builder
			for _, name := range names {
				desc, _, _ := failpoints[name].status()
				fmt.Fprintf(&b, "%s=%s\n", name, desc)
			}
			io.WriteString(w, b.String())
		case strings.HasSuffix(key, "/count"):
			f := failpoints[strings.TrimSuffix(key, "/count")]
			if f == nil {
				http.Error(w, "failed to GET: unknown failpoint", http.StatusNotFound)
				return
			}
			_, hits, set := f.status()
			if !set {
				http.Error(w, "failed to GET: failpoint is disabled", http.StatusNotFound)
				return
			}
			io.WriteString(w, strconv.FormatInt(hits, 10))
		default:
			f := failpoints[key]
			if f == nil {
				http.Error(w, "failed to GET: unknown failpoint", http.StatusNotFound)
				return
			}
			desc, _, set := f.status()
			if !set {
				http.Error(w, "failed to GET: failpoint is disabled", http.StatusNotFound)
				return
			}
			io.WriteString(w, desc+"\n")
		}
	case http.MethodDelete:
		if err := ClearFailpoint(key); err != nil {
			http.Error(w, "failed to delete failpoint: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// parseFailpointList parses GOFAIL_FAILPOINTS syntax: name=terms[;name=terms]*.
func parseFailpointList(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range strings.Split(s, ";") {
		if item == "" {
			continue
		}
		name, terms, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("bad failpoint %q: want name=terms", item)
		}
		out[name] = terms
	}
	return out, nil
}
