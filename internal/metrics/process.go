package metrics

import (
	"os"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// File descriptors (etcd server/etcdserver/metrics.go, os_fd_used and
// os_fd_limit). etcd samples them every 10 minutes; here they are read at
// each scrape. Registered by cmd/kvd (RegisterProcess).
var (
	fdUsed = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "os", Subsystem: "fd", Name: "used",
		Help: "The number of used file descriptors.",
	}, func() float64 {
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return 0
		}
		return float64(len(fds))
	})
	fdLimit = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "os", Subsystem: "fd", Name: "limit",
		Help: "The file descriptor limit.",
	}, func() float64 {
		var r syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return 0
		}
		return float64(r.Cur)
	})
)

// RegisterProcess registers what cmd/kvd exports about the process: the
// versions (RegisterVersion), the file descriptors and the health-check
// outcomes. Call it once per process.
func RegisterProcess(version, cluster string) {
	RegisterVersion(version, cluster)
	MustRegister(fdUsed, fdLimit)
	MustRegister(Health...)
}
