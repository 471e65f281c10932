package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvtrace/kvtrace/internal/node"
	"github.com/kvtrace/kvtrace/internal/transport"
)

// faultJSON is one message-fault rule as the admin API and `kvd fault` speak
// it: member names instead of ids, durations as Go strings.
type faultJSON struct {
	Type      string  `json:"type,omitempty"` // MsgApp, MsgAppResp, ... or "" / "any"
	From      string  `json:"from,omitempty"` // member name; "" = this member (rules act on what it sends)
	To        string  `json:"to,omitempty"`   // member name; "" = any
	Drop      float64 `json:"drop,omitempty"` // fraction 0..1
	Delay     string  `json:"delay,omitempty"`
	Blackhole bool    `json:"blackhole,omitempty"`
	For       string  `json:"for,omitempty"` // clear the rule after this long
}

// adminServer serves the member's loopback-only admin API:
//
//	GET    /faults   list the message-fault rules (JSON array of faultJSON)
//	PUT    /faults   replace them (JSON array); rules act on messages this member SENDS
//	POST   /faults   add one rule (JSON object)
//	DELETE /faults   clear all rules
//	GET    /debug/pprof/...  Go's profiler (block and mutex profiles only
//	                         with --debug-profile-rates)
type adminServer struct {
	lg      *slog.Logger
	tr      *transport.Transport
	members []node.Member
	self    uint64

	mu    sync.Mutex // guards rules and gen
	rules []faultJSON
	gen   int // bumped on every change, so an old "for" timer does not clear a newer rule set
}

// handler routes the admin API: /faults, plus Go's profiler under
// /debug/pprof/ (CPU, heap, block, mutex, goroutine, execution trace).
func (a *adminServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/faults", a)
	handlePprof(mux) // http_debug.go
	return mux
}

// Sampling rates set by --debug-profile-rates. Go records neither profile
// by default (rate 0), so without the flag /debug/pprof/block and
// /debug/pprof/mutex come back empty.
const (
	// blockProfileRate: one blocking event sampled per this many nanoseconds
	// spent blocked (channel waits, select, sync.Cond, Mutex.Lock), so short
	// waits on the hot path cost little while long ones are always seen.
	blockProfileRate = 10_000
	// mutexProfileFraction: one contended Unlock in this many is recorded.
	mutexProfileFraction = 10
)

// setProfileRates turns on the block and mutex profiles for the process.
func setProfileRates() {
	runtime.SetBlockProfileRate(blockProfileRate)
	runtime.SetMutexProfileFraction(mutexProfileFraction)
}

func listenLoopback(addr, flagName string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--%s %q: %w", flagName, addr, err)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--%s %q: the admin API only listens on loopback (127.0.0.1 or localhost)", flagName, addr)
	}
	return net.Listen("tcp", addr)
}

func (a *adminServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/faults" {
		http.Error(w, "unknown path; the admin API serves /faults", http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodDelete:
		a.set(nil)
	case http.MethodPut, http.MethodPost:
		var rules []faultJSON
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		var err error
		if r.Method == http.MethodPut {
			err = dec.Decode(&rules)
		} else {
			var one faultJSON
			err = dec.Decode(&one)
			a.mu.Lock()
			rules = append(append([]faultJSON(nil), a.rules...), one)
			a.mu.Unlock()
		}
		if err != nil {
			http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := a.set(rules); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, "use GET, PUT, POST or DELETE", http.StatusMethodNotAllowed)
		return
	}
	a.mu.Lock()
	out := append([]faultJSON{}, a.rules...)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (a *adminServer) idOf(name string) (uint64, error) {
	if name == "" || name == "any" || name == "*" {
		return 0, nil
	}
	for _, m := range a.members {
		if m.Name == name {
			return m.ID, nil
		}
	}
	return 0, fmt.Errorf("no member named %q", name)
}

// set validates and installs rules, and schedules the expiry of rules with For.
func (a *adminServer) set(rules []faultJSON) error {
	var trs []transport.FaultRule
	for _, fr := range rules {
		tr := transport.FaultRule{Drop: fr.Drop, Blackhole: fr.Blackhole, Type: transport.AnyType}
		if fr.Type != "" && fr.Type != "any" {
			v, ok := raftpb.MessageType_value[fr.Type]
			if !ok {
				return fmt.Errorf("unknown message type %q (want e.g. MsgApp, MsgAppResp, MsgHeartbeat, MsgVote, MsgProp)", fr.Type)
			}
			tr.Type = raftpb.MessageType(v)
		}
		from, err := a.idOf(fr.From)
		if err != nil {
			return err
		}
		if from != 0 && from != a.self {
			return fmt.Errorf("rule from %s sent to this member: faults act on the messages a member sends; send the rule to %s's admin address", fr.From, fr.From)
		}
		if tr.To, err = a.idOf(fr.To); err != nil {
			return err
		}
		if fr.Drop < 0 || fr.Drop > 1 {
			return fmt.Errorf("drop %v: want a fraction between 0 and 1", fr.Drop)
		}
		if fr.Delay != "" {
			if tr.Delay, err = time.ParseDuration(fr.Delay); err != nil {
				return fmt.Errorf("delay %q: %w", fr.Delay, err)
			}
		}
		if fr.For != "" {
			if _, err := time.ParseDuration(fr.For); err != nil {
				return fmt.Errorf("for %q: %w", fr.For, err)
			}
		}
		trs = append(trs, tr)
	}
	a.mu.Lock()
	a.gen++
	gen := a.gen
	a.rules = append([]faultJSON(nil), rules...)
	a.mu.Unlock()
	a.tr.SetFaults(trs)
	a.lg.Info("message faults set", "rules", describeFaults(rules))
	for _, fr := range rules {
		if fr.For == "" {
			continue
		}
		d, _ := time.ParseDuration(fr.For)
		fr := fr
		time.AfterFunc(d, func() { a.expire(gen, fr) })
	}
	return nil
}

// expire removes one timed rule if the rule set has not changed since.
func (a *adminServer) expire(gen int, done faultJSON) {
	a.mu.Lock()
	if a.gen != gen {
		a.mu.Unlock()
		return
	}
	var keep []faultJSON
	for _, r := range a.rules {
		if r != done {
			keep = append(keep, r)
		}
	}
	a.mu.Unlock()
	if err := a.set(keep); err != nil {
		a.lg.Error("expiring a message fault failed", "error", err)
	}
}

func describeFaults(rules []faultJSON) string {
	if len(rules) == 0 {
		return "none"
	}
	var parts []string
	for _, r := range rules {
		b, _ := json.Marshal(r)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, " ")
}
