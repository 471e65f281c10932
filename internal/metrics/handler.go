package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where /metrics is served (etcd etcdhttp.PathMetrics).
const Path = "/metrics"

// Handler serves every registered metric in the Prometheus text format.
func Handler() http.Handler { return promhttp.Handler() }

// MustRegister registers cs with the default registry; a package that
// observes metrics calls it from an init with its slice (Node, Store, ...).
func MustRegister(cs ...prometheus.Collector) { prometheus.MustRegister(cs...) }
