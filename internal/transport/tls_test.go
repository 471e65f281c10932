package transport

import (
	"crypto/tls"
	"strings"
	"testing"
)

// TestDialOptionsTLS: https:// peer URLs need a TLS configuration; there is
// no silent fallback to plain text.
func TestDialOptionsTLS(t *testing.T) {
	if _, _, err := DialOptions("https://127.0.0.1:2380", nil); err == nil || !strings.Contains(err.Error(), "--peer-cert-file") {
		t.Fatalf("https:// without TLS: %v, want an error naming --peer-cert-file", err)
	}
	for _, raw := range []string{"http://127.0.0.1:2380", "https://127.0.0.1:2380"} {
		target, creds, err := DialOptions(raw, &tls.Config{MinVersion: tls.VersionTLS12})
		if err != nil || creds == nil || target != "passthrough:///127.0.0.1:2380" {
			t.Errorf("DialOptions(%q) = %q, %v, %v", raw, target, creds, err)
		}
	}
}
