package main

import (
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy"
)

// TestObserverAdapter: each proxy event reaches the matching admin metric,
// without allocating.
func TestObserverAdapter(t *testing.T) {
	m := admin.NewMetrics(admin.MetricsOptions{NoRuntimeCollectors: true})
	var o proxy.Observer = observer{m.Bucket("b")}
	o.Request(memcached.OpGet, memcached.StatusSuccess, time.Millisecond)
	po := o.(proxy.ProtocolObserver)
	po.RequestProtocol("text", memcached.OpGet, memcached.StatusKeyENOENT, time.Millisecond)
	po.RequestProtocol("meta", memcached.OpSet, memcached.StatusSuccess, time.Millisecond)
	po.RequestProtocol("binary", memcached.OpGet, memcached.StatusSuccess, time.Millisecond)
	po.RequestProtocol("gopher", memcached.OpGet, memcached.StatusSuccess, time.Millisecond)
	ro := o.(proxy.ReplicaObserver)
	ro.ReplicaRead("n2:11210")
	ro.ReplicaRead("n2:11210")
	o.ClientConn(proxy.ConnAccepted)
	o.ClientConn(proxy.ConnAccepted)
	o.ClientConn(proxy.ConnClosed)
	o.ClientConn(proxy.ConnRefused)
	o.UpstreamConn("n1:11210", proxy.UpstreamConnecting)
	o.UpstreamConn("n1:11210", proxy.UpstreamUp)
	o.UpstreamConn("n1:11210", proxy.UpstreamDown)
	o.UpstreamError("n1:11210", "queue_full")
	o.NMVBRetry()
	o.Bytes(10, 20)

	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			key := mf.GetName()
			for _, lp := range metric.GetLabel() {
				if lp.GetName() != "bucket" {
					key += "," + lp.GetName() + "=" + lp.GetValue()
				}
			}
			switch {
			case metric.Counter != nil:
				got[key] = metric.Counter.GetValue()
			case metric.Gauge != nil:
				got[key] = metric.Gauge.GetValue()
			}
		}
	}
	want := map[string]float64{
		"vbproxy_requests_total,opcode=GET,protocol=binary,status=SUCCESS":             2,
		"vbproxy_requests_total,opcode=GET,protocol=text,status=KEY_ENOENT":            1,
		"vbproxy_requests_total,opcode=SET,protocol=meta,status=SUCCESS":               1,
		"vbproxy_requests_total,opcode=GET,protocol=other,status=SUCCESS":              1,
		"vbproxy_replica_reads_total,node=n2:11210":                                    2,
		"vbproxy_client_connections":                                                   1,
		"vbproxy_client_connections_accepted_total":                                    2,
		"vbproxy_client_connections_refused_total":                                     1,
		"vbproxy_upstream_connection_transitions_total,node=n1:11210,state=connecting": 1,
		"vbproxy_upstream_connection_transitions_total,node=n1:11210,state=up":         1,
		"vbproxy_upstream_connection_transitions_total,node=n1:11210,state=down":       1,
		"vbproxy_upstream_errors_total,kind=queue_full,node=n1:11210":                  1,
		"vbproxy_nmvb_retries_total":                                                   1,
		"vbproxy_client_received_bytes_total":                                          10,
		"vbproxy_client_sent_bytes_total":                                              20,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %v, want %v", k, got[k], w)
		}
	}

	allocs := testing.AllocsPerRun(200, func() {
		o.Request(memcached.OpGet, memcached.StatusSuccess, time.Millisecond)
		po.RequestProtocol("text", memcached.OpGet, memcached.StatusKeyENOENT, time.Millisecond)
		ro.ReplicaRead("n2:11210")
		o.ClientConn(proxy.ConnAccepted)
		o.ClientConn(proxy.ConnClosed)
		o.UpstreamConn("n1:11210", proxy.UpstreamUp)
		o.UpstreamError("n1:11210", "queue_full")
		o.NMVBRetry()
		o.Bytes(10, 20)
	})
	if allocs != 0 {
		t.Errorf("observer calls: got %v allocs, want 0", allocs)
	}
}

func BenchmarkObserverRequest(b *testing.B) {
	m := admin.NewMetrics(admin.MetricsOptions{NoRuntimeCollectors: true})
	var o proxy.Observer = observer{m.Bucket("default")}
	b.ReportAllocs()
	for b.Loop() {
		o.Request(memcached.OpGet, memcached.StatusSuccess, 250*time.Microsecond)
	}
}
