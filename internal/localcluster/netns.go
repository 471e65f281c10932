package localcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// ErrNetnsUnavailable wraps the reason NewNetns cannot create network
// namespaces on this machine (no ip binary, not root, no CAP_NET_ADMIN).
// Tests skip on it.
var ErrNetnsUnavailable = errors.New("network namespaces unavailable")

// Netns is one network namespace per member, each joined to a bridge in the
// root namespace by a veth pair, so members talk over real (virtual) links
// that a test can take down:
//
//	root ns:  bridge 10.X.Y.254/24 ── veth Links[i] ┄┄ eth0 10.X.Y.(i+1)/24 (namespace Names[i], lo up)
//
// The test process stays in the root namespace and reaches every member
// through the bridge. Use it as Config{Wrap: n.Wrap, Host: n.Host}.
//
// Names carry the creating process's pid (kvt-PID-SEQ-mI, bridge kvPIDbSEQ):
// NewNetns first removes the namespaces and bridges of pids that no longer
// exist, left behind by a test binary killed before its cleanup ran.
type Netns struct {
	Names  []string // namespace of member i
	Links  []string // root-side veth of member i; LinkDown/LinkUp act on it
	Bridge string
	Subnet string // "10.X.Y": member i is Subnet.(i+1), the bridge Subnet.254

	ip      string   // path of the ip binary
	created []string // what Close removes, in creation order: "ns:NAME", "link:NAME"
}

var netnsSeq atomic.Int32

// NewNetns creates n namespaces, a bridge and n veth pairs. On an error it
// removes what it created. The caller MUST call Close (the namespaces and
// links outlive the process otherwise).
func NewNetns(n int) (*Netns, error) {
	ip, err := exec.LookPath("ip")
	if err != nil {
		return nil, fmt.Errorf("%w: no ip binary (iproute2): %v", ErrNetnsUnavailable, err)
	}
	pid, seq := os.Getpid(), int(netnsSeq.Add(1))
	nn := &Netns{ip: ip, Bridge: fmt.Sprintf("kv%db%d", pid, seq)}
	sweepStaleNetns(ip)
	if nn.Subnet, err = freeSubnet(pid, seq); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("kvt-%d-%d-m%d", pid, seq, i+1)
		if err := nn.run("netns", "add", name); err != nil {
			nn.Close()
			if i == 0 {
				return nil, fmt.Errorf("%w (needs root or CAP_NET_ADMIN): %v", ErrNetnsUnavailable, err)
			}
			return nil, err
		}
		nn.created = append(nn.created, "ns:"+name)
		nn.Names = append(nn.Names, name)
	}
	steps := [][]string{
		{"link", "add", nn.Bridge, "type", "bridge"},
		{"addr", "add", nn.Subnet + ".254/24", "dev", nn.Bridge},
		{"link", "set", nn.Bridge, "up"},
	}
	for i, name := range nn.Names {
		link := fmt.Sprintf("kv%dv%dm%d", pid, seq, i+1)
		if len(link) > 15 || len(nn.Bridge) > 15 { // IFNAMSIZ-1
			nn.Close()
			return nil, fmt.Errorf("localcluster: interface name %s too long", link)
		}
		nn.Links = append(nn.Links, link)
		steps = append(steps,
			[]string{"link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name},
			[]string{"link", "set", link, "master", nn.Bridge},
			[]string{"link", "set", link, "up"},
			[]string{"-n", name, "addr", "add", nn.Host(i) + "/24", "dev", "eth0"},
			[]string{"-n", name, "link", "set", "eth0", "up"},
			[]string{"-n", name, "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := nn.run(s...); err != nil {
			nn.Close()
			return nil, err
		}
		if s[0] == "link" && s[1] == "add" {
			nn.created = append(nn.created, "link:"+s[2])
		}
	}
	return nn, nil
}

// Wrap is the command prefix that runs a program in member i's namespace.
// `ip netns exec` execs the program (no fork), so the member's pid is kvd's
// and Kill/Stop/Pdeathsig reach it.
func (n *Netns) Wrap(i int) []string { return []string{n.ip, "netns", "exec", n.Names[i]} }

// Host is member i's address.
func (n *Netns) Host(i int) string { return fmt.Sprintf("%s.%d", n.Subnet, i+1) }

// LinkDown takes member i's root-side veth down: the member's eth0 loses its
// carrier and nothing crosses in either direction, but its own address still
// works from inside its namespace (an admin-down eth0 would remove it).
// Established TCP connections are not reset: they stall, as on a cut cable.
func (n *Netns) LinkDown(i int) error { return n.run("link", "set", n.Links[i], "down") }

// LinkUp undoes LinkDown.
func (n *Netns) LinkUp(i int) error { return n.run("link", "set", n.Links[i], "up") }

// Close removes the links, the bridge and the namespaces (processes still
// inside a namespace keep it alive until they exit: stop them first).
func (n *Netns) Close() error {
	var errs []error
	// Links first (deleting a veth deletes its peer), namespaces last: a
	// namespace's veth would otherwise vanish asynchronously, after Close.
	for pass := range 2 {
		for j := len(n.created) - 1; j >= 0; j-- {
			kind, name, _ := strings.Cut(n.created[j], ":")
			switch {
			case pass == 0 && kind == "link":
				errs = append(errs, n.run("link", "del", name))
			case pass == 1 && kind == "ns":
				errs = append(errs, n.run("netns", "del", name))
			}
		}
	}
	n.created = nil
	return errors.Join(errs...)
}

func (n *Netns) run(args ...string) error {
	return runIP(n.ip, args...)
}

func runIP(ip string, args ...string) error {
	out, err := exec.Command(ip, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("localcluster: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// freeSubnet picks 10.X.Y (X in 200..249) from the pid and sequence number,
// skipping any /24 that overlaps an address of this machine.
func freeSubnet(pid, seq int) (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("localcluster: listing addresses: %w", err)
	}
	k := pid*7 + seq*131
	for try := 0; try < 64; try++ {
		c := (k + try) % (50 * 256)
		x, y := 200+c/256, c%256
		_, cand, _ := net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", x, y))
		clash := false
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (ipn.Contains(cand.IP) || cand.Contains(ipn.IP)) {
				clash = true
			}
		}
		if !clash {
			return fmt.Sprintf("10.%d.%d", x, y), nil
		}
	}
	return "", errors.New("localcluster: no free 10.200-249.x.0/24 subnet")
}

var (
	staleNS     = regexp.MustCompile(`^kvt-(\d+)-\d+-m\d+$`)
	staleBridge = regexp.MustCompile(`^kv(\d+)b\d+$`)
)

// sweepStaleNetns removes namespaces and bridges named by NewNetns for a pid
// that no longer runs. Best effort: errors are ignored.
func sweepStaleNetns(ip string) {
	dead := func(m []string) bool {
		pid, err := strconv.Atoi(m[1])
		return err == nil && syscall.Kill(pid, 0) == syscall.ESRCH
	}
	if out, err := exec.Command(ip, "-o", "link", "show", "type", "bridge").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line) // "7: kv123b1: <...> ..."
			if len(f) > 1 {
				if m := staleBridge.FindStringSubmatch(strings.TrimSuffix(f[1], ":")); m != nil && dead(m) {
					runIP(ip, "link", "del", m[0])
				}
			}
		}
	}
	if out, err := exec.Command(ip, "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line) // "kvt-123-1-m1 (id: 0)"
			if len(f) > 0 {
				if m := staleNS.FindStringSubmatch(f[0]); m != nil && dead(m) {
					runIP(ip, "netns", "del", m[0])
				}
			}
		}
	}
}
