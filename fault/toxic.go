package fault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vbproxy/vbproxy/internal/netns"
)

// Toxic forwards TCP connections accepted on one listener to an upstream
// address through toxiproxy's toxics (latency, jitter, bandwidth, slow
// close...), in process. toxiproxy's own Proxy listens and dials in the
// process's namespace; Toxic accepts and dials itself (so each side can be
// in a namespace of the lab) and hands both ends to the toxic chain.
type Toxic struct {
	ln       net.Listener
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	upstream string
	server   *toxiproxy.ApiServer
	proxy    *toxiproxy.Proxy

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// StartToxic serves ln: every connection is joined to a new connection to
// upstream, dialled from dialFrom (the upstream's namespace, or the one a
// real peer would dial from).
func StartToxic(ln net.Listener, dialFrom *netns.Host, upstream string) *Toxic {
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	t := &Toxic{
		ln:       ln,
		dial:     dialFrom.DialContext,
		upstream: upstream,
		server:   server,
		proxy:    toxiproxy.NewProxy(server, "fault", ln.Addr().String(), upstream),
		conns:    map[net.Conn]struct{}{},
	}
	t.wg.Add(1)
	go t.accept()
	return t
}

func (t *Toxic) accept() {
	defer t.wg.Done()
	for {
		client, err := t.ln.Accept()
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		up, err := t.dial(ctx, "tcp", t.upstream)
		cancel()
		if err != nil {
			_ = client.Close()
			continue
		}
		if !t.track(client, up) {
			_ = client.Close()
			_ = up.Close()
			return
		}
		name := client.RemoteAddr().String()
		t.proxy.Toxics.StartLink(t.server, name+"upstream", client, up.(*net.TCPConn), stream.Upstream)
		t.proxy.Toxics.StartLink(t.server, name+"downstream", up, client.(*net.TCPConn), stream.Downstream)
	}
}

func (t *Toxic) track(cs ...net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	for _, c := range cs {
		t.conns[c] = struct{}{}
	}
	return true
}

// Latency adds latency ± jitter to the data flowing in direction
// ("upstream": towards the upstream, "downstream": back).
func (t *Toxic) Latency(direction string, latency, jitter time.Duration) error {
	return t.Add(fmt.Sprintf(`{"name":"latency_%s","type":"latency","stream":%q,"attributes":{"latency":%d,"jitter":%d}}`,
		direction, direction, latency.Milliseconds(), jitter.Milliseconds()))
}

// Add adds a toxic described in toxiproxy's JSON form
// ({"name":..,"type":..,"stream":..,"attributes":{..}}). Existing
// connections get it too.
func (t *Toxic) Add(toxicJSON string) error {
	if _, err := t.proxy.Toxics.AddToxicJson(strings.NewReader(toxicJSON)); err != nil {
		return fmt.Errorf("fault: toxic %s: %w", toxicJSON, err)
	}
	return nil
}

// Reset removes every toxic.
func (t *Toxic) Reset() { t.proxy.Toxics.ResetToxics(context.Background()) }

// Close stops accepting and closes every connection.
func (t *Toxic) Close() error {
	t.mu.Lock()
	t.closed = true
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	err := t.ln.Close()
	for c := range conns {
		_ = c.Close()
	}
	t.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
