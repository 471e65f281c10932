package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	c, err := parseFlags([]string{"--name", "m1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.dataDir != "m1.kvd" || c.initialCluster != "m1=http://localhost:2380" || c.heartbeat != 100*time.Millisecond ||
		c.election != time.Second || c.maxRequestBytes != 1572864 || c.maxTxnOps != 128 ||
		c.backendBatchInterval != 100*time.Millisecond || c.backendBatchLimit != 10000 || c.quotaBackendBytes != 2<<30 {
		t.Fatalf("defaults differ from etcd's: %+v", c)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--heartbeat-interval", "100", "--election-timeout", "200"}, "at least 5 times"},
		{[]string{"--initial-cluster-state", "maybe"}, "'new' or 'existing'"},
		{[]string{"--listen-client-urls", "https://127.0.0.1:1"}, "is https:// but --cert-file and --key-file are not set"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--no-such-flag"}, "kvd --help"},
		{[]string{"stray"}, "unexpected argument"},
		{[]string{"--debug-profile-rates"}, "needs --admin-addr"},
	} {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%v) = %v, want error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestParseFlagsWatchProgressNotify(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 10 * time.Minute}, // etcd's default
		{[]string{"--watch-progress-notify-interval", "500ms"}, 500 * time.Millisecond},
		{[]string{"--experimental-watch-progress-notify-interval", "2s"}, 2 * time.Second}, // etcd 3.5's name
	} {
		c, err := parseFlags(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		if c.watchProgressNotify != tc.want {
			t.Errorf("parseFlags(%v): watch progress notify interval %v, want %v", tc.args, c.watchProgressNotify, tc.want)
		}
	}
}
