package proxy

import (
	"net"
	"time"

	proxyproto "github.com/armon/go-proxyproto"
)

// admitProxied reads a connection's PROXY header (on its own goroutine,
// before the connection joins a loop) and hands it over with the real
// client address. A client that sends nothing within ProxyHeaderTimeout is
// served with its socket address.
func (s *Server) admitProxied(c net.Conn) {
	pc := proxyproto.NewConn(c, s.o.ProxyHeaderTimeout)
	remote := pc.RemoteAddr().String() // reads the header
	_ = c.SetReadDeadline(time.Time{})
	s.handoff(pc, remote, c.LocalAddr().String(), nil)
}
