package transport

import (
	"crypto/tls"
	"fmt"
	"net/url"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// DialOptions returns the gRPC target and transport credentials for a peer
// URL: plain text for http://, TLS with tlsCfg for https:// (the member's
// --peer-cert-file as client certificate, the other member verified
// against --peer-trusted-ca-file; internal/tlsutil, Info.ClientConfig).
// An https:// URL with a nil tlsCfg is an error, never a silent downgrade.
// The lease forwarding of internal/server dials peer URLs with it too.
func DialOptions(rawURL string, tlsCfg *tls.Config) (target string, creds grpc.DialOption, err error) {
	target, err = dialTarget(rawURL)
	if err != nil {
		return "", nil, err
	}
	u, _ := url.Parse(rawURL) // dialTarget parsed it
	if u.Scheme != "https" {
		return target, grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	if tlsCfg == nil {
		return "", nil, fmt.Errorf("transport: peer URL %q is https:// but this member has no peer TLS configuration (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file)", rawURL)
	}
	// The server name is taken from the target's host (an IP SAN for
	// 127.0.0.1:port), as etcd's peer transport verifies it.
	return target, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg.Clone())), nil
}

// DialOptions is the package function with this transport's Config.TLS.
func (t *Transport) DialOptions(rawURL string) (target string, creds grpc.DialOption, err error) {
	return DialOptions(rawURL, t.cfg.TLS)
}
