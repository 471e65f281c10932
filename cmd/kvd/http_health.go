package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvtrace/kvtrace/internal/metrics"
)

// healthSource is what the health endpoints ask of the member
// (*server.Server); etcd asks the same of its server
// (server/etcdserver/api/etcdhttp/health.go, ServerHealth).
type healthSource interface {
	Alarms() []*pb.AlarmMember
	Leader() uint64
	IsLearner() bool
	RequestTimeout() time.Duration
	HealthRead(ctx context.Context, serializable bool) error
}

// healthReply is the JSON body of /health (etcd etcdhttp.Health).
type healthReply struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// Words etcd's /livez and /readyz use for a check's outcome.
const (
	checkSuccess = "success"
	checkError   = "error"
)

// handleHealth installs /health, /livez, /readyz and their per-check
// sub-paths on mux, with etcd's semantics (etcdhttp.HandleHealth):
//
//   - /health answers {"health":"true","reason":""} with 200, or
//     "false" and the first failing reason with 503: an active alarm not
//     named by ?exclude= ("ALARM NOSPACE", "ALARM CORRUPT"), no leader
//     ("RAFT NO LEADER", skipped with ?serializable=true), or a failed
//     keys-only read ("RANGE ERROR:<error>"), linearizable unless
//     ?serializable=true.
//   - /livez runs serializable_read; /readyz runs data_corruption,
//     serializable_read, linearizable_read and non_learner. Each answers
//     "ok" (with "[+]<check> ok" lines first when ?verbose is present), or
//     503 with a "[+]"/"[-]<check> failed: <error>" line per check. Checks
//     named by ?exclude= are skipped; /livez/<check> runs one check.
func handleHealth(lg *slog.Logger, mux *http.ServeMux, s healthSource) {
	mux.Handle("/health", getOnly(lg, func(w http.ResponseWriter, r *http.Request) {
		h := checkHealth(r.Context(), s, querySet(r, "exclude"), r.URL.Query().Get("serializable") == "true")
		b, _ := json.Marshal(h) // two strings: cannot fail
		if h.Health != "true" {
			metrics.HealthFailures.Inc()
			lg.Warn("/health error", "output", string(b), "status-code", http.StatusServiceUnavailable)
			http.Error(w, string(b), http.StatusServiceUnavailable)
			return
		}
		metrics.HealthSuccess.Inc()
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	}))
	timeout := s.RequestTimeout()
	read := func(serializable bool) healthCheck {
		return func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return s.HealthRead(ctx, serializable)
		}
	}
	livez := checkSet{kind: "livez"}
	livez.add("serializable_read", read(true))
	livez.install(lg, mux)
	readyz := checkSet{kind: "readyz"}
	readyz.add("data_corruption", func(context.Context) error {
		for _, a := range s.Alarms() {
			if a.Alarm == pb.AlarmType_CORRUPT {
				return fmt.Errorf("alarm activated: %s", a.Alarm)
			}
		}
		return nil
	})
	readyz.add("serializable_read", read(true))
	readyz.add("linearizable_read", read(false))
	readyz.add("non_learner", func(context.Context) error {
		if s.IsLearner() {
			return fmt.Errorf("not supported for learner")
		}
		return nil
	})
	readyz.install(lg, mux)
}

// checkHealth is /health's verdict, checks in etcd's order: alarms, leader,
// then a read bounded by the member's request timeout.
func checkHealth(ctx context.Context, s healthSource, excluded map[string]bool, serializable bool) healthReply {
	for _, a := range s.Alarms() {
		if excluded[a.Alarm.String()] {
			continue
		}
		switch a.Alarm {
		case pb.AlarmType_NOSPACE:
			return healthReply{"false", "ALARM NOSPACE"}
		case pb.AlarmType_CORRUPT:
			return healthReply{"false", "ALARM CORRUPT"}
		default:
			return healthReply{"false", "ALARM UNKNOWN"}
		}
	}
	if !serializable && s.Leader() == 0 {
		return healthReply{"false", "RAFT NO LEADER"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.RequestTimeout())
	defer cancel()
	if err := s.HealthRead(ctx, serializable); err != nil {
		// etcd prints its server's error, which is the gRPC status'
		// message here.
		return healthReply{"false", "RANGE ERROR:" + rpctypes.ErrorDesc(err)}
	}
	return healthReply{"true", ""}
}

// healthCheck is one named check of /livez or /readyz; nil is success.
type healthCheck func(ctx context.Context) error

// checkSet is /livez or /readyz: its checks IN REGISTRATION ORDER (etcd
// runs them in map order; a fixed order makes the verbose output stable).
type checkSet struct {
	kind   string // "livez" or "readyz": the path and the metrics' type label
	names  []string
	checks map[string]healthCheck
}

func (cs *checkSet) add(name string, c healthCheck) {
	if cs.checks == nil {
		cs.checks = map[string]healthCheck{}
	}
	cs.names = append(cs.names, name)
	cs.checks[name] = c
}

// install serves /<kind> (every check less ?exclude=) and /<kind>/<check>.
func (cs *checkSet) install(lg *slog.Logger, mux *http.ServeMux) {
	root := "/" + cs.kind
	mux.Handle(root, cs.handler(lg, root, func(r *http.Request) []string {
		excluded := querySet(r, "exclude")
		var run []string
		for _, n := range cs.names {
			if excluded[n] {
				delete(excluded, n)
				continue
			}
			run = append(run, n)
		}
		if len(excluded) > 0 {
			// As etcd: excluding a check that does not exist is not an error.
			lg.Warn("some health checks cannot be excluded", "missing-health-checks", strings.Join(keys(excluded), ","))
		}
		return run
	}))
	for _, n := range cs.names {
		mux.Handle(root+"/"+n, cs.handler(lg, root+"/"+n, func(*http.Request) []string { return []string{n} }))
	}
}

func (cs *checkSet) handler(lg *slog.Logger, path string, which func(*http.Request) []string) http.Handler {
	return getOnly(lg, func(w http.ResponseWriter, r *http.Request) {
		var out bytes.Buffer
		failed := false
		for _, n := range which(r) {
			if err := cs.checks[n](r.Context()); err != nil {
				fmt.Fprintf(&out, "[-]%s failed: %v\n", n, errorText(err))
				failed = true
				metrics.HealthCheck(cs.kind, n, checkError)
			} else {
				fmt.Fprintf(&out, "[+]%s ok\n", n)
				metrics.HealthCheck(cs.kind, n, checkSuccess)
			}
		}
		if failed {
			// The reason is always shown for a failure, as etcd does.
			lg.Error("Health check error", "path", path, "reason", out.String(), "status-code", http.StatusServiceUnavailable)
			http.Error(w, out.String(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if _, verbose := r.URL.Query()["verbose"]; verbose {
			w.Write(out.Bytes())
		}
		fmt.Fprint(w, "ok\n")
	})
}

// errorText is a check error as etcd's server would word it: the message
// of a gRPC status, else the error.
func errorText(err error) string { return rpctypes.ErrorDesc(err) }

// getOnly answers anything but GET with 405, as etcd's health handlers do.
func getOnly(lg *slog.Logger, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			lg.Warn("health request error", "path", r.URL.Path, "status-code", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	})
}

// querySet returns the non-empty values of query parameter name.
func querySet(r *http.Request, name string) map[string]bool {
	set := map[string]bool{}
	for _, v := range r.URL.Query()[name] {
		if v != "" {
			set[v] = true
		}
	}
	return set
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
