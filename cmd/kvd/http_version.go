package main

import (
	"encoding/json"
	"net/http"
	"strings"

	"go.etcd.io/etcd/api/v3/version"

	"github.com/kvtrace/kvtrace/internal/server"
)

// handleVersion serves /version as etcd does (server/etcdserver/api/
// etcdhttp/version.go): {"etcdserver":"3.7.3","etcdcluster":"3.7.0",
// "storage":"3.7.0"}. Every kvd member runs the same version, so the
// cluster and storage versions are the server's major.minor.0, what an
// etcd cluster of one version decides.
func handleVersion(mux *http.ServeMux) {
	minor := majorMinor(server.Version) + ".0"
	body, _ := json.Marshal(version.Versions{Server: server.Version, Cluster: minor, Storage: minor}) // strings only
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// majorMinor turns "3.7.3" into "3.7".
func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}
