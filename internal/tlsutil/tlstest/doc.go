// Package tlstest makes throw-away certificates for tests: a CA, and
// certificates it signs for servers, peers and clients, with 127.0.0.1 and
// ::1 IP SANs so loopback URLs verify. Keys are ECDSA P-256 (fast to
// generate); everything is written as PEM files into a directory the test
// owns. Not for production use: the CA key is kept in memory and files are
// written without further protection.
package tlstest
