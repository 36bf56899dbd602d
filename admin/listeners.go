package admin

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ListenerStats is what a listener's admission (PROXY header, TLS
// handshake) reports at scrape time; cmd/vbproxy adapts the proxy's
// edge.Stats and edge.CertState to it.
type ListenerStats struct {
	// Admitting is the number of connections reading a PROXY header or in
	// the TLS handshake now; Handshaking, of them, in the handshake.
	Admitting, Handshaking int64
	// Admitted counts connections admitted; WithHeader, of them, those
	// that sent a PROXY header.
	Admitted, WithHeader uint64
	// Refused counts refused connections by reason, the fixed set of
	// reasons the proxy knows (each listed, zero or not).
	Refused []ReasonCount
	// TLS says the listener serves TLS; the fields below are set only then.
	TLS bool
	// CertNotAfter is the expiry of the certificate served.
	CertNotAfter time.Time
	// CertReloads and CertReloadErrors count the certificate reloads that
	// succeeded and failed.
	CertReloads, CertReloadErrors uint64
	// CertReloadFailing says the files on disk changed but do not load:
	// the previous certificate is still served.
	CertReloadFailing bool
}

// ReasonCount is one refusal reason and its count.
type ReasonCount struct {
	Reason string
	Count  uint64
}

type listenerSource struct {
	bucket, listener string
	fn               func() ListenerStats
}

// listenersCollector reads the listeners' admission counters at scrape
// time. Label values are bounded: buckets and listener addresses come from
// the configuration, reasons from the proxy's fixed set.
type listenersCollector struct {
	admitted, withHeader, refused, admitting, handshaking *prometheus.Desc
	certExpiry, certReloads, certFailing                  *prometheus.Desc

	mu      sync.Mutex
	sources []listenerSource
}

func newListenersCollector() *listenersCollector {
	name := func(n string) string { return prometheus.BuildFQName(Namespace, "listener", n) }
	l := []string{"bucket", "listener"}
	return &listenersCollector{
		admitted: prometheus.NewDesc(name("connections_admitted_total"),
			"Client connections the listener admitted after its PROXY header and TLS handshake (listeners with proxy_protocol or tls only).", l, nil),
		withHeader: prometheus.NewDesc(name("proxy_headers_total"),
			"Admitted client connections that started with a PROXY protocol header (v1 or v2) from a trusted source.", l, nil),
		refused: prometheus.NewDesc(name("connections_refused_total"),
			"Client connections the listener refused before serving them, by reason: untrusted_source (a PROXY header from outside trusted_cidrs, or any connection from there with proxy_protocol required), no_proxy_header, bad_proxy_header, tls_handshake_failed, tls_handshake_timeout, closed_by_client, canceled (shutdown).",
			append(l, "reason"), nil),
		admitting: prometheus.NewDesc(name("admitting_connections"),
			"Client connections reading a PROXY header or in the TLS handshake now (they count against limits.max_connections).", l, nil),
		handshaking: prometheus.NewDesc(name("tls_handshakes_in_progress"),
			"TLS handshakes with clients in progress now.", l, nil),
		certExpiry: prometheus.NewDesc(name("certificate_expiry_timestamp_seconds"),
			"Unix time at which the certificate the TLS listener serves expires.", l, nil),
		certReloads: prometheus.NewDesc(name("certificate_reloads_total"),
			"Re-reads of the TLS listener's certificate files (on a change, POST /reload or SIGHUP), by result: ok, or error (the previous certificate kept serving).",
			append(l, "result"), nil),
		certFailing: prometheus.NewDesc(name("certificate_reload_failing"),
			"1 while the TLS listener's certificate files on disk cannot be loaded and the previous certificate is still served, else 0.", l, nil),
	}
}

// AddListenerSource registers a function that reports, at scrape time, one
// listener's admission counters (the listener is its configured address).
func (m *Metrics) AddListenerSource(bucket, listener string, fn func() ListenerStats) {
	m.listeners.mu.Lock()
	defer m.listeners.mu.Unlock()
	m.listeners.sources = append(m.listeners.sources, listenerSource{bucket, listener, fn})
}

func (c *listenersCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.admitted, c.withHeader, c.refused, c.admitting, c.handshaking, c.certExpiry, c.certReloads, c.certFailing} {
		ch <- d
	}
}

func (c *listenersCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sources := append([]listenerSource(nil), c.sources...)
	c.mu.Unlock()
	for _, s := range sources {
		st := s.fn()
		b, l := s.bucket, s.listener
		counter := func(d *prometheus.Desc, v uint64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{b, l}, extra...)...)
		}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, b, l)
		}
		counter(c.admitted, st.Admitted)
		counter(c.withHeader, st.WithHeader)
		for _, r := range st.Refused {
			counter(c.refused, r.Count, r.Reason)
		}
		gauge(c.admitting, float64(st.Admitting))
		gauge(c.handshaking, float64(st.Handshaking))
		if !st.TLS {
			continue
		}
		gauge(c.certExpiry, float64(st.CertNotAfter.Unix()))
		counter(c.certReloads, st.CertReloads, "ok")
		counter(c.certReloads, st.CertReloadErrors, "error")
		failing := 0.0
		if st.CertReloadFailing {
			failing = 1
		}
		gauge(c.certFailing, failing)
	}
}
