package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"
)

// maxCAFile bounds the CA file Config.TLSCAFile names: a bundle of a few
// hundred certificates fits; anything larger is not a CA file.
const maxCAFile = 4 << 20

// clientTLS returns the TLS configuration of c's connections, or nil when
// c.TLSCAFile is empty. Every connection of a run shares it, so that a
// reconnect resumes its session instead of paying a full handshake.
func clientTLS(c *Config) (*tls.Config, error) {
	if c.TLSCAFile == "" {
		return nil, nil
	}
	st, err := os.Stat(c.TLSCAFile)
	if err != nil {
		return nil, invalid("tls-ca", "%v", err)
	}
	if st.Size() > maxCAFile {
		return nil, invalid("tls-ca", "%s has %d bytes, more than a CA bundle's %d", c.TLSCAFile, st.Size(), maxCAFile)
	}
	pem, err := os.ReadFile(c.TLSCAFile)
	if err != nil {
		return nil, invalid("tls-ca", "%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, invalid("tls-ca", "%s holds no PEM certificate", c.TLSCAFile)
	}
	name := c.TLSServerName
	if name == "" {
		host, _, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return nil, invalid("addr", "%q is not host:port", c.Addr)
		}
		name = host
	}
	return &tls.Config{
		RootCAs:            pool,
		ServerName:         name,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(max(c.Conns, 64)),
	}, nil
}

// handshake runs the TLS client handshake on c within timeout (and ctx),
// and returns the TLS connection. On error c is closed.
func handshake(ctx context.Context, c net.Conn, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	tc := tls.Client(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("tls handshake with %s (server name %q): %w", c.RemoteAddr(), cfg.ServerName, err)
	}
	return tc, nil
}
