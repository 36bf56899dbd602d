package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/vbmap"
)

func httpDo(t *testing.T, method, u, user, pass string, form url.Values) (int, []byte) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, u, err)
	}
	return res.StatusCode, b
}

func TestMgmtEndpoints(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2, Buckets: []string{"default", "other"}})
	base := c.SeedURL()
	tests := []struct {
		path, user, pass string
		want             int
	}{
		{"/pools", "", "", 200},
		{"/pools", testUser, "bad", 401},
		{"/pools/default", testUser, testPass, 200},
		{"/pools/default", "", "", 401},
		{"/pools/default/buckets", testUser, testPass, 200},
		{"/pools/default/buckets/default", testUser, testPass, 200},
		{"/pools/default/buckets/other", testUser, testPass, 200},
		{"/pools/default/buckets/nope", testUser, testPass, 404},
		{"/pools/default/buckets/default", testUser, "bad", 401},
		{"/pools/default/b/default", testUser, testPass, 200},
		{"/pools/default/b/nope", testUser, testPass, 404},
		{"/pools/default/b/default", "nobody", testPass, 401},
		{"/pools/default/bs/nope", testUser, testPass, 404},
		{"/pools/default/bucketsStreaming/nope", testUser, testPass, 404},
		{"/pools/default/bs/default", testUser, "bad", 401},
		{"/pools/default/rebalanceProgress", testUser, testPass, 200},
	}
	for _, tt := range tests {
		if got, _ := httpDo(t, "GET", base+tt.path, tt.user, tt.pass, nil); got != tt.want {
			t.Errorf("GET %s as %q/%q: %d, want %d", tt.path, tt.user, tt.pass, got, tt.want)
		}
	}
}

func TestConfigShapes(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3, ExternalHost: "203.0.113.5"})
	n := c.Nodes()[1]
	_, terse := httpDo(t, "GET", n.MgmtURL()+"/pools/default/b/default", testUser, testPass, nil)
	_, full := httpDo(t, "GET", n.MgmtURL()+"/pools/default/buckets/default", testUser, testPass, nil)
	if !bytes.Contains(terse, []byte(`"$HOST:`)) {
		t.Errorf("terse config without $HOST: %.300s", terse)
	}
	if bytes.Contains(full, []byte("$HOST")) {
		t.Errorf("full config with $HOST: %.300s", full)
	}
	for name, body := range map[string][]byte{"terse": terse, "full": full} {
		m, err := vbmap.Parse(body, vbmap.ParseOptions{Host: n.Host()})
		if err != nil {
			t.Fatalf("%s config: vbmap.Parse: %v", name, err)
		}
		if m.NumVBuckets() != 64 || m.Revision().Rev != c.Revision() || m.Revision().Epoch != 1 {
			t.Errorf("%s config: %d vBuckets rev %v, want 64 and 1/%d", name, m.NumVBuckets(), m.Revision(), c.Revision())
		}
		for i, node := range c.Nodes() {
			if got := m.Nodes()[i].Addr; got != node.KVAddr() {
				t.Errorf("%s config: node %d at %s, want %s", name, i, got, node.KVAddr())
			}
		}
		for vb := range 64 {
			if got, want := m.Nodes()[m.Active(uint16(vb))].Addr, c.VBucketOwner("default", vb).KVAddr(); got != want {
				t.Fatalf("%s config: vb %d active on %s, want %s", name, vb, got, want)
			}
		}
		ext, err := vbmap.Parse(body, vbmap.ParseOptions{Host: n.Host(), Network: "external"})
		if err != nil {
			t.Fatalf("%s config, external network: %v", name, err)
		}
		if got, want := ext.Nodes()[0].Addr, "203.0.113.5:"+portOf(c.Nodes()[0].KVAddr()); got != want {
			t.Errorf("%s config, external network: node 0 at %s, want %s", name, got, want)
		}
	}
	var parsed struct {
		Nodes []struct {
			OTPNode  string `json:"otpNode"`
			ThisNode bool   `json:"thisNode"`
		} `json:"nodes"`
		NodesExt []struct {
			Services map[string]int `json:"services"`
			ThisNode bool           `json:"thisNode"`
			Hostname string         `json:"hostname"`
		} `json:"nodesExt"`
	}
	if err := json.Unmarshal(full, &parsed); err != nil {
		t.Fatal(err)
	}
	if got, want := parsed.Nodes[1].OTPNode, n.OTPName(); got != want || !parsed.Nodes[1].ThisNode {
		t.Errorf("full config nodes[1]: otpNode %q thisNode %v, want %q true", got, parsed.Nodes[1].ThisNode, want)
	}
	if !strings.HasPrefix(n.OTPName(), "ns_1@127.0.0.1:") {
		t.Errorf("OTPName %q, want ns_1@127.0.0.1:PORT", n.OTPName())
	}
	parsed.NodesExt = nil
	if err := json.Unmarshal(terse, &parsed); err != nil {
		t.Fatal(err)
	}
	if e := parsed.NodesExt[1]; !e.ThisNode || e.Hostname != "" || e.Services["kv"] == 0 || e.Services["mgmt"] == 0 {
		t.Errorf("terse nodesExt[1] = %+v, want thisNode, no hostname, kv and mgmt ports", e)
	}
}

// streamReader collects the configs of a streaming endpoint.
type streamReader struct {
	revs chan int64
	body io.Closer
}

func openStream(t *testing.T, u string) *streamReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("stream %s: %v", u, err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("stream %s: status %d", u, res.StatusCode)
	}
	s := &streamReader{revs: make(chan int64, 100), body: res.Body}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.revs)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		sc.Split(splitConfigs)
		for sc.Scan() {
			var cfg struct {
				Rev int64 `json:"rev"`
			}
			if err := json.Unmarshal(sc.Bytes(), &cfg); err != nil {
				t.Errorf("stream chunk is not JSON: %v", err)
				return
			}
			s.revs <- cfg.Rev
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = res.Body.Close()
		<-done
	})
	return s
}

// splitConfigs splits a stream on "\n\n\n\n".
func splitConfigs(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.Index(data, []byte(streamSeparator)); i >= 0 {
		return i + len(streamSeparator), data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// next returns the next config revision from the stream.
func (s *streamReader) next(t *testing.T) int64 {
	t.Helper()
	select {
	case rev, ok := <-s.revs:
		if !ok {
			t.Fatal("stream ended")
		}
		return rev
	case <-time.After(10 * time.Second):
		t.Fatal("no config on the stream within 10s")
	}
	return 0
}

func TestStreamingDeliversEachChange(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2})
	for _, path := range []string{"/pools/default/bs/default", "/pools/default/bucketsStreaming/default"} {
		t.Run(path, func(t *testing.T) {
			s := openStream(t, c.SeedURL()+path)
			if got, want := s.next(t), c.Revision(); got != want {
				t.Fatalf("first config rev %d, want %d", got, want)
			}
			n, err := c.AddNode()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := s.next(t), c.Revision(); got != want {
				t.Errorf("after AddNode: rev %d, want %d", got, want)
			}
			if err := c.Failover(n); err != nil {
				t.Fatal(err)
			}
			if got, want := s.next(t), c.Revision(); got != want {
				t.Errorf("after Failover: rev %d, want %d", got, want)
			}
		})
	}
}

func TestRESTTopologyChanges(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2, VBuckets: 32})
	base := c.SeedURL()
	auth := func(method, path string, form url.Values) (int, []byte) {
		return httpDo(t, method, base+path, testUser, testPass, form)
	}
	code, body := auth("POST", "/controller/addNode", url.Values{"hostname": {"127.0.0.1"}, "user": {testUser}, "password": {testPass}})
	if code != 200 {
		t.Fatalf("addNode: %d %s", code, body)
	}
	var added struct {
		OTPNode string `json:"otpNode"`
	}
	if err := json.Unmarshal(body, &added); err != nil || c.Node(added.OTPNode) == nil {
		t.Fatalf("addNode answer %s: %v; node not found", body, err)
	}
	if code, _ := auth("POST", "/controller/addNode", url.Values{"hostname": {"127.0.0.1"}, "user": {testUser}, "password": {"bad"}}); code != 400 {
		t.Errorf("addNode with bad node credentials: %d, want 400", code)
	}
	names := []string{}
	for _, n := range c.Nodes() {
		names = append(names, n.OTPName())
	}
	if code, body := auth("POST", "/controller/rebalance", url.Values{"knownNodes": {names[0]}}); code != 400 || !strings.Contains(string(body), "mismatch") {
		t.Errorf("rebalance with missing knownNodes: %d %s, want 400 mismatch", code, body)
	}
	eject := c.Nodes()[0]
	if code, body := auth("POST", "/controller/rebalance", url.Values{
		"knownNodes": {strings.Join(names, ",")}, "ejectedNodes": {eject.OTPName()},
	}); code != 200 {
		t.Fatalf("rebalance: %d %s", code, body)
	}
	waitRebalance(t, c)
	if got := len(c.Nodes()); got != 2 {
		t.Fatalf("%d nodes after rebalance, want 2", got)
	}
	if c.Node(eject.OTPName()) != nil {
		t.Errorf("ejected node %s still in the cluster", eject.OTPName())
	}
	for vb := range 32 {
		if o := c.VBucketOwner("default", vb); o == nil || o == eject || o.OTPName() == "" {
			t.Fatalf("vb %d owner %v after rebalance", vb, o)
		}
	}
	if !strings.Contains(string(configOf(t, c)), c.Node(added.OTPNode).KVAddr()) {
		t.Errorf("added node %s not in the config after rebalance", added.OTPNode)
	}

	// Pause and resume a node; the KV request sent while paused is
	// answered after resume.
	n := c.Nodes()[0]
	base = c.SeedURL()
	kv := dialKV(t, n.KVAddr())
	if code, body := httpDo(t, "POST", base+"/sim/pause", testUser, testPass, url.Values{"otpNode": {n.OTPName()}}); code != 200 {
		t.Fatalf("pause: %d %s", code, body)
	}
	kv.send(0x0a, 0, 0, nil, nil, nil) // NOOP
	if _, err := kv.tryRecv(100 * time.Millisecond); err == nil {
		t.Fatal("paused node answered")
	}
	if code, body := httpDo(t, "POST", base+"/sim/resume", testUser, testPass, url.Values{"otpNode": {n.OTPName()}}); code != 200 {
		t.Fatalf("resume: %d %s", code, body)
	}
	if r := kv.recv(); r.Status != 0 {
		t.Errorf("NOOP sent while paused: status %s after resume", r.Status)
	}

	other := c.Nodes()[1]
	if code, body := httpDo(t, "POST", n.MgmtURL()+"/controller/failOver", testUser, testPass, url.Values{"otpNode": {other.OTPName()}}); code != 200 {
		t.Fatalf("failOver: %d %s", code, body)
	}
	if got := len(c.Nodes()); got != 1 {
		t.Errorf("%d nodes after failover, want 1", got)
	}
	if code, _ := httpDo(t, "POST", n.MgmtURL()+"/controller/failOver", testUser, testPass, url.Values{"otpNode": {"ns_1@nowhere"}}); code != 400 {
		t.Errorf("failOver unknown node: %d, want 400", code)
	}
}

func configOf(t *testing.T, c *Cluster) []byte {
	t.Helper()
	_, b := httpDo(t, "GET", c.SeedURL()+"/pools/default/buckets/default", testUser, testPass, nil)
	return b
}

// waitRebalance polls rebalanceProgress until no rebalance runs.
func waitRebalance(t *testing.T, c *Cluster) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, body := httpDo(t, "GET", c.SeedURL()+"/pools/default/rebalanceProgress", testUser, testPass, nil)
		var p map[string]string
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("rebalanceProgress %s: %v", body, err)
		}
		if p["status"] == "none" {
			if p["errorMessage"] != "" {
				t.Fatalf("rebalance failed: %s", p["errorMessage"])
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("rebalance still running after 30s")
}
