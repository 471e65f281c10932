package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// MinVersion is the oldest TLS version kvd accepts or offers (etcd's
// default; TLS 1.0 and 1.1 are deprecated by RFC 8996).
const MinVersion = tls.VersionTLS12

// Info is one port's TLS flags. Prefix is "" for the client port and
// "peer-" for the peer port; it only names flags in errors.
type Info struct {
	Prefix         string
	CertFile       string // --[peer-]cert-file
	KeyFile        string // --[peer-]key-file
	TrustedCAFile  string // --[peer-]trusted-ca-file
	ClientCertAuth bool   // --[peer-]client-cert-auth
}

// Empty reports whether none of the flags is set.
func (i Info) Empty() bool {
	return i.CertFile == "" && i.KeyFile == "" && i.TrustedCAFile == "" && !i.ClientCertAuth
}

// HasCert reports whether a certificate and key are configured.
func (i Info) HasCert() bool { return i.CertFile != "" && i.KeyFile != "" }

// Validate checks the flags belong together, naming them as the user typed
// them.
func (i Info) Validate() error {
	if (i.CertFile == "") != (i.KeyFile == "") {
		return fmt.Errorf("--%scert-file and --%skey-file go together; only one is set", i.Prefix, i.Prefix)
	}
	if i.ClientCertAuth && i.TrustedCAFile == "" {
		return fmt.Errorf("--%sclient-cert-auth needs --%strusted-ca-file (the CA that signs the certificates to accept)", i.Prefix, i.Prefix)
	}
	if i.ClientCertAuth && !i.HasCert() {
		return fmt.Errorf("--%sclient-cert-auth needs --%scert-file and --%skey-file", i.Prefix, i.Prefix, i.Prefix)
	}
	return nil
}

// ServerConfig is the listening side's configuration (package doc, step 2).
func (i Info) ServerConfig() (*tls.Config, error) {
	if err := i.Validate(); err != nil {
		return nil, err
	}
	if !i.HasCert() {
		return nil, fmt.Errorf("https:// needs --%scert-file and --%skey-file", i.Prefix, i.Prefix)
	}
	cert, err := tls.LoadX509KeyPair(i.CertFile, i.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--%scert-file %s / --%skey-file %s: %w", i.Prefix, i.CertFile, i.Prefix, i.KeyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   MinVersion,
		Certificates: []tls.Certificate{cert},
		// h2 for gRPC (grpc-go clients refuse a server without it), http/1.1
		// for the JSON gateway.
		NextProtos: []string{"h2", "http/1.1"},
	}
	if i.TrustedCAFile != "" {
		if cfg.ClientCAs, err = loadCAs(i.Prefix, i.TrustedCAFile); err != nil {
			return nil, err
		}
	}
	if i.ClientCertAuth {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientConfig is the dialing side's configuration (package doc, step 3).
func (i Info) ClientConfig() (*tls.Config, error) {
	if err := i.Validate(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: MinVersion}
	if i.HasCert() {
		cert, err := tls.LoadX509KeyPair(i.CertFile, i.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--%scert-file %s / --%skey-file %s: %w", i.Prefix, i.CertFile, i.Prefix, i.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if i.TrustedCAFile != "" {
		var err error
		if cfg.RootCAs, err = loadCAs(i.Prefix, i.TrustedCAFile); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func loadCAs(prefix, path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--%strusted-ca-file: %w", prefix, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("--" + prefix + "trusted-ca-file " + path + ": no PEM certificate in it")
	}
	return pool, nil
}
