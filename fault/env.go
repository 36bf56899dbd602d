package fault

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/vbproxy/vbproxy/internal/netns"
	"github.com/vbproxy/vbproxy/sim"
)

// Addresses of the lab: the proxy, the clients, and node i at
// NodeBase + i. All are in 198.18.0.0/15 and exist only inside the lab.
var (
	ProxyIP  = netip.MustParseAddr("198.18.0.2")
	ClientIP = netip.MustParseAddr("198.18.0.3")
	NodeBase = netip.MustParseAddr("198.18.0.11")
)

// EnvOptions configure an Env.
type EnvOptions struct {
	// Nodes is the number of nodes started; default 3.
	Nodes int
	// SpareNodes are namespaces made for nodes added later (sim.AddNode
	// takes the next address index).
	SpareNodes int
	// Sim is the simulated cluster's options; Nodes, HostBase, MgmtPort,
	// KVPort and Listen are set by the Env. VBuckets default to 1024.
	Sim sim.Options
	// Listen, when set, opens node listeners instead of a plain listen in
	// the node's namespace (a test that puts toxics in front of a node).
	Listen func(node int, h *netns.Host, network, addr string) (net.Listener, error)
}

// Env is a lab with a simulated cluster whose node i listens in namespace
// Nodes[i], a namespace for the proxy and one for the clients.
type Env struct {
	Lab     *netns.Lab
	Nodes   []*netns.Host // node i, started or spare
	Proxy   *netns.Host   // where vbproxy runs
	Clients *netns.Host   // where the clients dial from
	Cluster *sim.Cluster
}

// NewEnv builds an Env for a test; everything is removed in t.Cleanup.
func NewEnv(t testing.TB, o EnvOptions) *Env {
	t.Helper()
	lab := netns.New(t)
	e, err := StartEnv(lab, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Cluster.Close() })
	return e
}

// StartEnv builds an Env in lab. Close the cluster, then the lab.
func StartEnv(lab *netns.Lab, o EnvOptions) (*Env, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	e := &Env{Lab: lab}
	var err error
	if e.Proxy, err = lab.AddHost("proxy", ProxyIP); err != nil {
		return nil, err
	}
	if e.Clients, err = lab.AddHost("clients", ClientIP); err != nil {
		return nil, err
	}
	base := NodeBase.As4()
	for i := range o.Nodes + o.SpareNodes {
		ip := base
		ip[3] += byte(i)
		h, err := lab.AddHost(fmt.Sprintf("node%d", i), netip.AddrFrom4(ip))
		if err != nil {
			return nil, err
		}
		e.Nodes = append(e.Nodes, h)
	}
	so := o.Sim
	so.Nodes = o.Nodes
	so.Host = ""
	so.HostBase = NodeBase.String()
	so.MgmtPort, so.KVPort = 8091, 11210
	if so.VBuckets == 0 {
		so.VBuckets = 1024
	}
	so.Listen = func(node int, network, addr string) (net.Listener, error) {
		if node < 0 {
			// Added at an explicit hostname: the namespace with that address.
			node = e.nodeIndex(addr)
		}
		if node < 0 || node >= len(e.Nodes) {
			return nil, fmt.Errorf("fault: node %d (%s) has no namespace (%d made; raise EnvOptions.SpareNodes)", node, addr, len(e.Nodes))
		}
		if o.Listen != nil {
			return o.Listen(node, e.Nodes[node], network, addr)
		}
		return e.Nodes[node].Listen(network, addr)
	}
	if e.Cluster, err = sim.Start(so); err != nil {
		return nil, err
	}
	return e, nil
}

// nodeIndex returns the index of the node namespace with addr's host, -1
// when none.
func (e *Env) nodeIndex(addr string) int {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return -1
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return -1
	}
	for i, h := range e.Nodes {
		if h.IP == ip {
			return i
		}
	}
	return -1
}

// Seeds returns the cluster manager URLs of the started nodes.
func (e *Env) Seeds() []string {
	var out []string
	for _, n := range e.Cluster.Nodes() {
		out = append(out, n.MgmtURL())
	}
	return out
}

// NodeHost returns the namespace of a simulated node.
func (e *Env) NodeHost(n *sim.Node) (*netns.Host, error) {
	ip, err := netip.ParseAddr(n.Host())
	if err != nil {
		return nil, err
	}
	for _, h := range e.Nodes {
		if h.IP == ip {
			return h, nil
		}
	}
	return nil, errors.New("fault: node " + n.String() + " has no namespace")
}
