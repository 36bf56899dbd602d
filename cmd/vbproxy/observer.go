package main

import (
	"time"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy"
)

// observer adapts admin.BucketMetrics to proxy.Observer (admin does not
// import proxy). Every method is a conversion and a call: no allocation.
type observer struct{ m *admin.BucketMetrics }

var (
	_ proxy.Observer         = observer{}
	_ proxy.ProtocolObserver = observer{}
	_ proxy.ReplicaObserver  = observer{}
)

// Request is not called by the proxy (observer is a ProtocolObserver); it
// counts a binary request.
func (o observer) Request(op memcached.Opcode, status memcached.Status, d time.Duration) {
	o.m.Request(op, status, d)
}

// RequestProtocol records a request outcome with the client's protocol
// ("binary", "text" or "meta") as the protocol label.
func (o observer) RequestProtocol(protocol string, op memcached.Opcode, status memcached.Status, d time.Duration) {
	o.m.RequestProtocol(admin.ParseProtocol(protocol), op, status, d)
}

// ReplicaRead records a read a replica on node answered.
func (o observer) ReplicaRead(node string) { o.m.ReplicaRead(node) }

func (o observer) ClientConn(ev proxy.ConnEvent) {
	switch ev {
	case proxy.ConnAccepted:
		o.m.ClientConn(admin.ConnAccepted)
	case proxy.ConnClosed:
		o.m.ClientConn(admin.ConnClosed)
	case proxy.ConnRefused:
		o.m.ClientConn(admin.ConnRefused)
	}
}

func (o observer) UpstreamConn(node string, s proxy.UpstreamState) {
	switch s {
	case proxy.UpstreamConnecting:
		o.m.UpstreamConn(node, admin.UpstreamConnecting)
	case proxy.UpstreamUp:
		o.m.UpstreamConn(node, admin.UpstreamUp)
	case proxy.UpstreamDown:
		o.m.UpstreamConn(node, admin.UpstreamDown)
	}
}

func (o observer) NMVBRetry() { o.m.NMVBRetry() }

func (o observer) UpstreamError(node, kind string) { o.m.UpstreamError(node, kind) }

func (o observer) Bytes(in, out int) { o.m.Bytes(in, out) }

// UpstreamRequest records one forwarded request answered by node (the
// console's per-node requests/s and latency, and the vbproxy_upstream_*
// request metrics).
func (o observer) UpstreamRequest(node string, status memcached.Status, d time.Duration) {
	o.m.UpstreamRequest(node, status, d)
}

// nodeStatuses adapts proxy.Server.Nodes for admin.
func nodeStatuses(srv *proxy.Server) func() []admin.NodeStatus {
	return func() []admin.NodeStatus {
		nodes := srv.Nodes()
		out := make([]admin.NodeStatus, len(nodes))
		for i, n := range nodes {
			out[i] = admin.NodeStatus{Addr: n.Addr, State: n.State, Reason: n.Reason, Conns: n.Conns}
		}
		return out
	}
}
