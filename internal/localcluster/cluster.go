package localcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Config describes the cluster to start.
type Config struct {
	Binary    string   // path to the kvd binary
	Dir       string   // parent of the members' data dirs and logs
	Size      int      // number of members (default 3)
	ExtraArgs []string // appended to every member's flags
	Token     string   // --initial-cluster-token (default "kvtrace-local")
	// Env is added to member i's environment.
	Env func(i int) []string
	// MemberArgs are appended to member i's flags (after ExtraArgs), e.g. a
	// --failpoint-addr or --admin-addr port of its own.
	MemberArgs func(i int) []string
	// TLS, if set, makes every URL https:// with these certificates (tls.go).
	TLS *TLS
	// Wrap, if set, is the command prefix member i runs under, e.g.
	// `ip netns exec NS` (netns.go). The prefix MUST exec the binary, not
	// fork it, or Kill and Stop signal the prefix instead of kvd.
	Wrap func(i int) []string
	// Host, if set, is member i's listen and advertise address instead of
	// 127.0.0.1 (netns.go). Its ports are still picked free on loopback.
	Host func(i int) string
}

// Member is one kvd process.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string
	LogPath   string
	args      []string
	env       []string
	binary    string
	wrap      []string // Config.Wrap
	cmd       *exec.Cmd
	exited    chan struct{}
}

// Cluster is a started set of members.
type Cluster struct {
	Members []*Member
	// ClientTLS is what Client dials with (Config.TLS); nil for http://.
	ClientTLS *tls.Config
}

// Start picks free loopback ports and starts every member.
func Start(cfg Config) (*Cluster, error) {
	if cfg.Size == 0 {
		cfg.Size = 3
	}
	if cfg.Token == "" {
		cfg.Token = "kvtrace-local"
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("localcluster: cannot create %s: %w", cfg.Dir, err)
	}
	ports, err := FreePorts(2 * cfg.Size)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	if c.ClientTLS, err = cfg.TLS.ClientConfig(); err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	scheme := cfg.TLS.scheme() // tls.go
	var initial []string
	for i := 0; i < cfg.Size; i++ {
		host := "127.0.0.1"
		if cfg.Host != nil {
			host = cfg.Host(i)
		}
		m := &Member{
			Name:      fmt.Sprintf("m%d", i+1),
			ClientURL: fmt.Sprintf("%s://%s:%d", scheme, host, ports[2*i]),
			PeerURL:   fmt.Sprintf("%s://%s:%d", scheme, host, ports[2*i+1]),
			binary:    cfg.Binary,
		}
		if cfg.Wrap != nil {
			m.wrap = cfg.Wrap(i)
		}
		m.DataDir = filepath.Join(cfg.Dir, m.Name+".kvd")
		m.LogPath = filepath.Join(cfg.Dir, m.Name+".log")
		if cfg.Env != nil {
			m.env = cfg.Env(i)
		}
		initial = append(initial, m.Name+"="+m.PeerURL)
		c.Members = append(c.Members, m)
	}
	for i, m := range c.Members {
		m.args = append([]string{
			"--name", m.Name,
			"--data-dir", m.DataDir,
			"--listen-client-urls", m.ClientURL,
			"--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL,
			"--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", cfg.Token,
			"--initial-cluster-state", "new",
		}, append(cfg.TLS.args(), cfg.ExtraArgs...)...)
		if cfg.MemberArgs != nil {
			m.args = append(m.args, cfg.MemberArgs(i)...)
		}
		if err := m.Start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Args returns the member's command-line flags.
func (m *Member) Args() []string { return append([]string(nil), m.args...) }

// Start (re)starts the member's process with its flags; logs are appended.
func (m *Member) Start() error {
	if m.Running() {
		return fmt.Errorf("localcluster: %s is already running", m.Name)
	}
	logf, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("localcluster: log file for %s: %w", m.Name, err)
	}
	argv := append(append(append([]string(nil), m.wrap...), m.binary), m.args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), m.env...)
	// A member MUST NOT outlive the process that started it: a test binary
	// killed by its timeout (or Ctrl-C on kvd demo) would otherwise leave
	// members running that hold ports and load the machine. Pdeathsig acts
	// when the starting OS thread exits; starting from a locked thread is
	// not needed here because the Go runtime keeps its threads alive.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("localcluster: starting %s (%s): %w", m.Name, m.binary, err)
	}
	m.cmd = cmd
	m.exited = make(chan struct{})
	go func(ch chan struct{}) {
		cmd.Wait()
		logf.Close()
		close(ch)
	}(m.exited)
	return nil
}

// Running reports whether the process is alive.
func (m *Member) Running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (a crash: no flush, no close) and waits for the exit.
func (m *Member) Kill() error { return m.signal(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM and waits up to 10s, then kills.
func (m *Member) Stop() error {
	if err := m.signal(syscall.SIGTERM, 10*time.Second); err != nil {
		return m.Kill()
	}
	return nil
}

func (m *Member) signal(sig syscall.Signal, wait time.Duration) error {
	if !m.Running() {
		return nil
	}
	if err := m.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-m.exited:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("localcluster: %s did not exit %v after %v", m.Name, wait, sig)
	}
}

// Pid returns the process id, or 0.
func (m *Member) Pid() int {
	if !m.Running() {
		return 0
	}
	return m.cmd.Process.Pid
}

// Endpoints lists the members' client URLs.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.Members))
	for i, m := range c.Members {
		eps[i] = m.ClientURL
	}
	return eps
}

// Close stops every member (SIGTERM, then SIGKILL).
func (c *Cluster) Close() {
	for _, m := range c.Members {
		m.Stop()
	}
}

// Client returns a clientv3 client for the given endpoints (all if none).
func (c *Cluster) Client(eps ...string) (*clientv3.Client, error) {
	if len(eps) == 0 {
		eps = c.Endpoints()
	}
	return clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), TLS: c.ClientTLS})
}

// WaitLeader polls Maintenance.Status on the running members until all of
// them agree on one leader, and returns that leader's index in Members.
func (c *Cluster) WaitLeader(ctx context.Context) (int, error) {
	var last error
	for {
		idx, err := c.leaderOnce(ctx)
		if err == nil {
			return idx, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("localcluster: no leader before the deadline: %v (member logs: %s)", last, c.Members[0].LogPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) leaderOnce(ctx context.Context) (int, error) {
	var leader uint64
	ids := map[uint64]int{}
	for i, m := range c.Members {
		if !m.Running() {
			continue
		}
		cli, err := c.Client(m.ClientURL)
		if err != nil {
			return -1, err
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(sctx, m.ClientURL)
		cancel()
		cli.Close()
		if err != nil {
			return -1, fmt.Errorf("%s: %w", m.Name, err)
		}
		ids[st.Header.MemberId] = i
		if st.Leader == 0 {
			return -1, fmt.Errorf("%s has no leader", m.Name)
		}
		if leader != 0 && st.Leader != leader {
			return -1, fmt.Errorf("members disagree on the leader")
		}
		leader = st.Leader
	}
	i, ok := ids[leader]
	if !ok {
		return -1, fmt.Errorf("leader %x is not among the running members", leader)
	}
	return i, nil
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1.
//
// A port is handed to a member process some milliseconds after it was found
// free, and in that window the kernel may give it to somebody else. Ports
// the kernel hands out itself (listen on port 0, and the source port of
// every outgoing connection) come from the ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default), which a
// machine running many tests churns through: a test once failed with the
// member's listener "address already in use". So FreePorts picks random
// ports BELOW that range, which only an explicit bind takes, and checks each
// by listening on it; where the range cannot be read or leaves no room it
// falls back to port 0.
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	lo, hi := quietPortRange()
	ports := make([]int, 0, n)
	for attempts := 0; len(ports) < n; attempts++ {
		addr := "127.0.0.1:0"
		if hi > lo && attempts < 50*n {
			addr = fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo))
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if addr == "127.0.0.1:0" {
				return nil, fmt.Errorf("localcluster: no free port: %w", err)
			}
			continue // taken: try another
		}
		lns = append(lns, ln)
		port := ln.Addr().(*net.TCPAddr).Port
		if !handOut(port) {
			continue // given to an earlier caller, who may not have bound it yet
		}
		ports = append(ports, port)
	}
	return ports, nil
}

// handedOut holds every port FreePorts returned in this process. A caller
// binds its ports some time after FreePorts closed its test listeners, so
// two calls (a cluster's client and peer ports, then a test's failpoint
// ports) could otherwise both get a port nobody had bound yet: an e2e run
// once failed with a member's failpoint listener on another member's
// client port.
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// handOut records port as given out; false if it already was.
func handOut(port int) bool {
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports[port] {
		return false
	}
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	handedOut.ports[port] = true
	return true
}

// quietPortRange is [lo, hi): ports below the kernel's ephemeral range and
// above the well-known and commonly configured ones; (0, 0) when the range
// cannot be read or starts too low to leave room.
func quietPortRange() (lo, hi int) {
	const floor = 20000
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	first, err := strconv.Atoi(f[0])
	if err != nil || first-floor < 1000 {
		return 0, 0
	}
	return floor, first
}
