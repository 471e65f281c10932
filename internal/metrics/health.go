package metrics

import "github.com/prometheus/client_golang/prometheus"

// Health-check outcomes (etcd server/etcdserver/api/etcdhttp/health.go),
// observed by cmd/kvd's HTTP health handlers.
var (
	HealthSuccess = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "server", Name: "health_success",
		Help: "The total number of successful health checks",
	})
	HealthFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "server", Name: "health_failures",
		Help: "The total number of failed health checks",
	})
	healthCheck = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "healthcheck",
		Help: "The result of each kind of healthcheck.",
	}, []string{"type", "name"})
	healthChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "server", Name: "healthchecks_total",
		Help: "The total number of each kind of healthcheck.",
	}, []string{"type", "name", "status"})
)

// Health is every health-check collector.
var Health = []prometheus.Collector{HealthSuccess, HealthFailures, healthCheck, healthChecks}

// HealthCheck records one /livez or /readyz check: kind is "livez" or
// "readyz", status "success" or "error" (etcd's words).
func HealthCheck(kind, name, status string) {
	v := 0.0
	if status == "success" {
		v = 1
	}
	healthCheck.WithLabelValues(kind, name).Set(v)
	healthChecks.WithLabelValues(kind, name, status).Inc()
}
