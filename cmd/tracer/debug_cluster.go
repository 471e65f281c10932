package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kvtrace/kvtrace/internal/debugger"
	"github.com/kvtrace/kvtrace/internal/localcluster"
)

const debugClusterHelp = `
Start a local cluster with chosen members under headless delve and keep it up
until Ctrl-C. Build kvd for it with -gcflags=all=-N -l (make debug does both).

Election-timeout profiles (the heartbeat is 100ms in all of them). delve stops
EVERY thread of a member at a breakpoint, so a stopped member neither sends
nor acks:
  follower  the debugged members get --election-timeout 30000 and the others
            1000: the debugged members never campaign first, so they stay
            followers, and pausing them never moves leadership. (default)
  leader    the first debugged member gets 1000 and the others 30000: it wins
            the first election, and while it is paused the followers wait
            30-60s (randomised) before electing another leader. A stopped
            leader loses leadership after the followers' election timeout.
  none      kvd's defaults (100/1000) for everyone.
`

// Profiles: election timeouts in ms for (debugged, other) members.
var debugProfiles = map[string][2]string{
	"follower": {"30000", "1000"},
	"leader":   {"1000", "30000"},
	"none":     {"", ""},
}

func runDebugCluster(args []string, e env) error {
	fs := newFlags("debug cluster", "debug cluster --kvd BIN [--members m2] [--profile follower|leader|none] [--dir DIR]", debugClusterHelp, e)
	kvd := fs.String("kvd", "bin/kvd-debug", "kvd binary, built with -gcflags=all=-N -l")
	dlv := fs.String("dlv", "", "dlv binary (default: go tool -n dlv)")
	members := fs.String("members", "m2", "comma-separated members to run under delve")
	size := fs.Int("size", 3, "cluster size")
	profile := fs.String("profile", "follower", "election-timeout profile: follower, leader or none")
	port := fs.Int("dlv-port", 2345, "member mN's delve listens on 127.0.0.1:(dlv-port+N-1)")
	dir := fs.String("dir", "", "parent of the data dirs and logs (default: a new temp dir)")
	extra := fs.String("kvd-flags", "", "more kvd flags for every member, space-separated (e.g. --trace)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return errUsage
	}
	prof, ok := debugProfiles[*profile]
	if !ok {
		return fmt.Errorf("--profile %q: want follower, leader or none", *profile)
	}
	if *dlv == "" {
		if *dlv, err = debugger.DlvPath(); err != nil {
			return err
		}
	}
	if *kvd, err = filepath.Abs(*kvd); err != nil {
		return err
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "kvtrace-debug-"); err != nil {
			return err
		}
	}
	debugged := map[int]string{} // member index -> delve address
	var order []int
	for _, m := range strings.Split(*members, ",") {
		n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(m), "m"))
		if err != nil || n < 1 || n > *size {
			return fmt.Errorf("--members: %q is not one of m1..m%d", m, *size)
		}
		debugged[n-1] = fmt.Sprintf("127.0.0.1:%d", *port+n-1)
		order = append(order, n-1)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	wrapper, err := debugger.WriteWrapper(*dir, *dlv, *kvd)
	if err != nil {
		return err
	}
	cfg := localcluster.Config{
		Binary: wrapper, Dir: *dir, Size: *size,
		ExtraArgs: append([]string{"--heartbeat-interval", "100", "--log-level", "warn"}, strings.Fields(*extra)...),
		Env: func(i int) []string {
			if a, ok := debugged[i]; ok {
				return []string{debugger.ListenEnv + "=" + a}
			}
			return nil
		},
		MemberArgs: func(i int) []string {
			el := prof[1]
			if _, ok := debugged[i]; ok && (*profile != "leader" || i == order[0]) {
				el = prof[0]
			}
			if el == "" {
				return nil
			}
			return []string{"--election-timeout", el}
		},
	}
	c, err := localcluster.Start(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	leader, err := c.WaitLeader(wctx)
	cancel()
	if err != nil {
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "cluster of %d up in %s (profile %s); leader %s\n\n", *size, *dir, *profile, c.Members[leader].Name)
	for i, m := range c.Members {
		fmt.Fprintf(w, "  %s  client %s  log %s  %s\n", m.Name, m.ClientURL, m.LogPath, strings.Join(m.Args()[len(m.Args())-2:], " "))
		if a, ok := debugged[i]; ok {
			fmt.Fprintf(w, "      under delve at %s:  go tool dlv connect %s\n", a, a)
		}
	}
	var attach []string
	for _, i := range slices.Sorted(maps.Keys(debugged)) {
		attach = append(attach, c.Members[i].Name+"="+debugged[i])
	}
	first := c.Members[order[0]].Name
	fmt.Fprintf(w, `
stop %[1]s at its next WAL fsync, then write from another terminal:
  go run ./cmd/tracer debug --attach %[2]s --boundary wal.fsync --member %[1]s
  ETCDCTL_ENDPOINTS=%[3]s go tool etcdctl put k v

%[4]s
Ctrl-C stops the cluster (and the delve servers).
`, first, strings.Join(attach, ","), strings.Join(c.Endpoints(), ","), profileNote(*profile))
	<-ctx.Done()
	fmt.Fprintln(w, "stopping")
	return nil
}

func profileNote(p string) string {
	switch p {
	case "follower":
		return "profile follower: the debugged members have --election-timeout 30000 and never campaign first;\n" +
			"pausing them does not move leadership (the leader commits with the other members' acks)."
	case "leader":
		return "profile leader: the first debugged member has --election-timeout 1000, the others 30000, so it\n" +
			"leads; paused, it keeps leadership for 30-60s, then the others elect a new leader."
	}
	return "profile none: kvd's default timeouts; a leader paused for more than ~1-2s loses leadership."
}
