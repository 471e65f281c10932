package localcluster

import (
	"crypto/tls"
	"strings"

	"github.com/kvtrace/kvtrace/internal/tlsutil"
)

// TLS makes a cluster serve https:// on its client and peer URLs. Every
// member uses the same certificate for both ports (it must be valid for
// server and client authentication and name 127.0.0.1, as
// internal/tlsutil/tlstest issues them); Cluster.Client presents
// ClientCertFile and trusts CAFile.
type TLS struct {
	CertFile, KeyFile string // --cert-file/--key-file and --peer-cert-file/--peer-key-file
	CAFile            string // --trusted-ca-file and --peer-trusted-ca-file
	ClientCertAuth    bool   // --client-cert-auth and --peer-client-cert-auth

	// ClientCertFile and ClientKeyFile are what Cluster.Client presents;
	// empty: no client certificate.
	ClientCertFile, ClientKeyFile string
}

// scheme is the URL scheme of a cluster with this configuration.
func (t *TLS) scheme() string {
	if t == nil {
		return "http"
	}
	return "https"
}

// args are the kvd flags for t; none for a nil t.
func (t *TLS) args() []string {
	if t == nil {
		return nil
	}
	a := []string{
		"--cert-file", t.CertFile, "--key-file", t.KeyFile, "--trusted-ca-file", t.CAFile,
		"--peer-cert-file", t.CertFile, "--peer-key-file", t.KeyFile, "--peer-trusted-ca-file", t.CAFile,
	}
	if t.ClientCertAuth {
		a = append(a, "--client-cert-auth", "--peer-client-cert-auth")
	}
	return a
}

// ClientConfig is the TLS configuration Cluster.Client uses; nil for a nil t.
func (t *TLS) ClientConfig() (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	return tlsutil.Info{CertFile: t.ClientCertFile, KeyFile: t.ClientKeyFile, TrustedCAFile: t.CAFile}.ClientConfig()
}

// schemeOf returns "https" for an https:// URL, else "http".
func schemeOf(u string) string {
	if strings.HasPrefix(u, "https://") {
		return "https"
	}
	return "http"
}
