package main

import "testing"

// TestParseFlagsHTTPS: https:// URLs are accepted when the certificate
// flags of their port are given (the files are read later, by serve).
func TestParseFlagsHTTPS(t *testing.T) {
	c, err := parseFlags([]string{"--name", "m1",
		"--listen-client-urls", "https://127.0.0.1:2379", "--advertise-client-urls", "https://127.0.0.1:2379",
		"--cert-file", "s.crt", "--key-file", "s.key", "--trusted-ca-file", "ca.crt", "--client-cert-auth",
		"--listen-peer-urls", "https://127.0.0.1:2380", "--initial-advertise-peer-urls", "https://127.0.0.1:2380",
		"--peer-cert-file", "p.crt", "--peer-key-file", "p.key", "--peer-trusted-ca-file", "ca.crt", "--peer-client-cert-auth"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.clientTLS.ClientCertAuth || c.peerTLS.CertFile != "p.crt" || c.peerTLS.Prefix != "peer-" ||
		c.initialCluster != "m1=https://127.0.0.1:2380" {
		t.Fatalf("parsed %+v", c)
	}
	// Peer flags do not cover client URLs.
	if _, err := parseFlags([]string{"--listen-client-urls", "https://127.0.0.1:2379",
		"--peer-cert-file", "p.crt", "--peer-key-file", "p.key"}); err == nil {
		t.Fatal("https client URL with only peer certificate flags: accepted")
	}
}
