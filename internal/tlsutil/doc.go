// Package tlsutil builds the TLS configurations of kvd's client and peer
// ports from etcd's flags (--cert-file, --key-file, --trusted-ca-file,
// --client-cert-auth and their --peer-* twins; etcd
// client/pkg/transport/listener.go, TLSInfo) and wraps listeners so every
// accepted connection finishes its TLS handshake within HandshakeTimeout.
//
// The contract:
//
//  1. Fill an Info per port from the flags; Info.Validate says what is
//     missing in flag names.
//  2. Info.ServerConfig is the listening side: the member's certificate,
//     TLS 1.2 minimum (MinVersion), ALPN h2 and http/1.1, and with
//     ClientCertAuth every client MUST present a certificate that verifies
//     against TrustedCAFile (tls.RequireAndVerifyClientCert).
//  3. Info.ClientConfig is the dialing side (a member dialing its peers):
//     the same certificate is presented as the client certificate, and the
//     other member MUST verify against TrustedCAFile (the system roots when
//     it is empty). The server name is the dialed host, so a member's
//     certificate needs an IP SAN when peer URLs use IP addresses.
//  4. NewListener wraps a plain TCP listener. Handshakes run in their own
//     goroutine each, BEFORE Accept returns the connection, so a client that
//     connects and sends nothing cannot hold up the others, and one that has
//     not finished the handshake after HandshakeTimeout is closed (etcd:
//     listener_tls.go, tlsListener.acceptLoop; the same defence as an
//     http.Server's ReadHeaderTimeout against slowloris clients).
//
// Certificates are read once, at start; etcd's reload of rotated files is
// not implemented.
package tlsutil
