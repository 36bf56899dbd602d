package vbmap

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCM is a cluster manager on loopback serving one bucket's config on the
// streaming, terse and full endpoints, with switches for what it supports.
type fakeCM struct {
	t      *testing.T
	srv    *httptest.Server
	bucket string
	user   string
	pass   string

	mu          sync.Mutex
	config      []byte // served to new requests and pushed to open streams
	noStream    bool   // 404 on /bs/
	noLegacy    bool   // 404 on /bucketsStreaming/
	noTerse     bool   // 404 on /b/
	noFull      bool   // 404 on /buckets/
	streams     map[chan []byte]bool
	hits        map[string]int // path kind -> requests
	streamStart chan string    // receives the path of each stream opened
	done        chan struct{}
}

func newFakeCM(t *testing.T, bucket string) *fakeCM {
	t.Helper()
	cm := &fakeCM{
		t: t, bucket: bucket, user: "Administrator", pass: "password",
		streams: make(map[chan []byte]bool), hits: make(map[string]int),
		streamStart: make(chan string, 64), done: make(chan struct{}),
	}
	cm.srv = httptest.NewServer(http.HandlerFunc(cm.serve))
	t.Cleanup(cm.close)
	return cm
}

// close ends open streams and stops the server; safe to call twice.
func (cm *fakeCM) close() {
	cm.mu.Lock()
	select {
	case <-cm.done:
		cm.mu.Unlock()
		return
	default:
	}
	close(cm.done)
	cm.mu.Unlock()
	cm.srv.CloseClientConnections()
	cm.srv.Close()
}

func (cm *fakeCM) URL() string { return cm.srv.URL }

// port is the server's TCP port, used as the mgmt port in configs.
func (cm *fakeCM) port() int {
	u, _ := url.Parse(cm.srv.URL)
	p, _ := strconv.Atoi(u.Port())
	return p
}

// set replaces the config and pushes it to every open stream.
func (cm *fakeCM) set(config []byte) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	cm.config = config
	for ch := range cm.streams {
		ch <- config
	}
}

// push sends config to open streams without changing what new requests get.
func (cm *fakeCM) push(config []byte) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	for ch := range cm.streams {
		ch <- config
	}
}

// dropStreams ends every open stream (the server closes the response).
func (cm *fakeCM) dropStreams() {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	for ch := range cm.streams {
		close(ch)
		delete(cm.streams, ch)
	}
}

func (cm *fakeCM) hitCount(kind string) int {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	return cm.hits[kind]
}

func (cm *fakeCM) configure(f func(cm *fakeCM)) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	f(cm)
}

func (cm *fakeCM) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != cm.user || pass != cm.pass {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/pools/default/")
	kind, bucket, _ := strings.Cut(rest, "/")
	cm.mu.Lock()
	cm.hits[kind]++
	missing := map[string]bool{"bs": cm.noStream, "bucketsStreaming": cm.noLegacy, "b": cm.noTerse, "buckets": cm.noFull}
	config := cm.config
	cm.mu.Unlock()
	if !ok || bucket != cm.bucket || missing[kind] || config == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch kind {
	case "b", "buckets":
		w.Write(config)
	case "bs", "bucketsStreaming":
		cm.stream(w, r, kind)
	default:
		http.NotFound(w, r)
	}
}

// stream writes the current config, then each pushed one, separated by
// "\n\n\n\n" as the cluster manager does, until dropped or closed.
func (cm *fakeCM) stream(w http.ResponseWriter, r *http.Request, kind string) {
	ch := make(chan []byte, 64)
	cm.mu.Lock()
	cm.streams[ch] = true
	first := cm.config
	cm.mu.Unlock()
	defer func() {
		cm.mu.Lock()
		delete(cm.streams, ch)
		cm.mu.Unlock()
	}()
	fl := w.(http.Flusher)
	w.Write(first)
	w.Write([]byte("\n\n\n\n"))
	fl.Flush()
	select {
	case cm.streamStart <- kind:
	default:
	}
	for {
		select {
		case cfg, ok := <-ch:
			if !ok {
				return
			}
			w.Write(cfg)
			w.Write([]byte("\n\n\n\n"))
			fl.Flush()
		case <-r.Context().Done():
			return
		case <-cm.done:
			return
		}
	}
}

// testConfig is a terse config of 64 vBuckets with rev (0 = no rev) whose
// nodes are at 127.0.0.1 KV ports 11210+i; node i's mgmt port is
// mgmtPorts[i] (the first node is $HOST, the node that answered).
func testConfig(rev int64, bucket string, mgmtPorts ...int) []byte {
	var b strings.Builder
	b.WriteString("{")
	if rev > 0 {
		fmt.Fprintf(&b, `"rev":%d,"revEpoch":1,`, rev)
	}
	fmt.Fprintf(&b, `"name":%q,"nodeLocator":"vbucket","vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":1,"serverList":[`, bucket)
	for i := range mgmtPorts {
		if i > 0 {
			b.WriteByte(',')
		}
		if i == 0 {
			fmt.Fprintf(&b, `"$HOST:%d"`, 11210+i)
		} else {
			fmt.Fprintf(&b, `"127.0.0.1:%d"`, 11210+i)
		}
	}
	b.WriteString(`],"vBucketMap":[`)
	n := len(mgmtPorts)
	for vb := range 64 {
		if vb > 0 {
			b.WriteByte(',')
		}
		// Shift ownership with rev so successive configs differ.
		a := (vb + int(rev)) % n
		fmt.Fprintf(&b, "[%d,%d]", a, (a+1)%n)
	}
	b.WriteString(`]},"nodesExt":[`)
	for i, p := range mgmtPorts {
		if i > 0 {
			b.WriteByte(',')
		}
		if i == 0 {
			fmt.Fprintf(&b, `{"services":{"mgmt":%d,"kv":%d},"thisNode":true}`, p, 11210+i)
		} else {
			fmt.Fprintf(&b, `{"services":{"mgmt":%d,"kv":%d},"hostname":"127.0.0.1"}`, p, 11210+i)
		}
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// deadURL returns the URL of a loopback port with nothing listening.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// waitFor fails the test unless cond becomes true (a guard against hangs,
// not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
