package localcluster

import (
	"net"
	"strconv"
	"testing"
)

// TestFreePortsAvoidEphemeralRange: the ports are distinct, bindable, and
// (where the kernel's ephemeral range leaves room below it) outside it, so
// an outgoing connection's source port cannot take one before the member
// binds it.
func TestFreePortsAvoidEphemeralRange(t *testing.T) {
	ports, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := quietPortRange()
	if hi == 0 {
		t.Logf("no room below the ephemeral port range here; FreePorts falls back to port 0 (checking only distinct and bindable)")
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
		if hi > 0 && (p < lo || p >= hi) {
			t.Fatalf("port %d outside [%d, %d), the range below the ephemeral ports", p, lo, hi)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d is not free after FreePorts returned: %v", p, err)
		}
		ln.Close()
	}
}

// TestFreePortsNeverTwice: separate calls (a cluster's ports, then a test's
// failpoint ports) never get the same port, although the first caller has
// not bound its ports yet. Without the record of handed-out ports, 500
// random picks from the ~12 000 quiet ports all but surely repeat one.
func TestFreePortsNeverTwice(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		ports, err := FreePorts(10)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
		}
	}
}
