package main

import (
	"strings"
	"testing"

	"github.com/kvtrace/kvtrace/internal/metrics"
)

func TestMetricsFlags(t *testing.T) {
	c, err := parseFlags([]string{"--name", "m1"})
	if err != nil {
		t.Fatal(err)
	}
	if m := c.metrics; m.mode != metrics.ModeBasic || m.metricsURLs != nil || m.clientHTTPURLs != nil || m.enablePprof {
		t.Fatalf("defaults differ from etcd's: %+v", m)
	}
	c, err = parseFlags([]string{"--metrics", "extensive", "--enable-pprof",
		"--listen-metrics-urls", "http://127.0.0.1:2381,https://127.0.0.1:2382", "--listen-client-http-urls", "http://127.0.0.1:2383"})
	if err != nil {
		t.Fatal(err)
	}
	m := c.metrics
	if m.mode != metrics.ModeExtensive || !m.enablePprof || len(m.metricsURLs) != 2 || m.metricsURLs[1].Host != "127.0.0.1:2382" ||
		len(m.clientHTTPURLs) != 1 || m.clientHTTPURLs[0].Host != "127.0.0.1:2383" {
		t.Fatalf("parsed %+v", m)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics", "full"}, `want "basic" or "extensive"`},
		{[]string{"--listen-metrics-urls", "127.0.0.1:2381"}, "--listen-metrics-urls takes http:// or https:// URLs"},
		{[]string{"--listen-client-http-urls", "unix://x"}, "--listen-client-http-urls takes"},
	} {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%v) = %v, want error containing %q", tc.args, err, tc.want)
		}
	}
}
