package sim

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// noConfig fails when the stream delivers a config (or ends) within d.
func (s *streamReader) noConfig(t *testing.T, d time.Duration, what string) {
	t.Helper()
	select {
	case rev, ok := <-s.revs:
		t.Fatalf("%s: stream delivered rev %d (open %v), want silence", what, rev, ok)
	case <-time.After(d):
	}
}

// ended waits up to 5s for the stream to end.
func (s *streamReader) ended(t *testing.T) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-s.revs:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("stream still open after 5s")
		}
	}
}

// getErr does a GET without failing the test on a transport error.
func getErr(u string) (int, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(testUser, testPass)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	return res.StatusCode, nil
}

func TestMgmtUnreachable(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2})
	control := httptest.NewServer(c.ControlHandler())
	t.Cleanup(control.Close)
	n := c.Nodes()[0]
	stream := openStream(t, n.MgmtURL()+"/pools/default/bs/default")
	if got := stream.next(t); got != c.Revision() {
		t.Fatalf("first config rev %d, want %d", got, c.Revision())
	}
	kv := dialKV(t, n.KVAddr())
	kv.login("default")

	if code, _ := httpDo(t, "POST", control.URL+"/sim/mgmt", testUser, "bad", url.Values{"reachable": {"false"}}); code != 401 {
		t.Errorf("POST /sim/mgmt with a bad password: %d, want 401", code)
	}
	if code, body := httpDo(t, "POST", control.URL+"/sim/mgmt", testUser, testPass, url.Values{"reachable": {"maybe"}}); code != 400 {
		t.Errorf("POST /sim/mgmt reachable=maybe: %d %s, want 400", code, body)
	}
	if code, _ := httpDo(t, "POST", control.URL+"/sim/mgmt", testUser, testPass, url.Values{"reachable": {"false"}}); code != 200 {
		t.Fatalf("POST /sim/mgmt reachable=false: %d", code)
	}
	if c.MgmtReachable() {
		t.Fatal("MgmtReachable() true after reachable=false")
	}
	stream.ended(t)
	for _, x := range c.Nodes() {
		if code, err := getErr(x.MgmtURL() + "/pools"); err == nil {
			t.Errorf("GET %s/pools while unreachable: %d, want a connection error", x.MgmtURL(), code)
		}
	}
	// A node added meanwhile is unreachable too.
	added, err := c.AddNode()
	if err != nil {
		t.Fatal(err)
	}
	if code, err := getErr(added.MgmtURL() + "/pools"); err == nil {
		t.Errorf("GET on a node added while unreachable: %d, want a connection error", code)
	}
	// KV stays up and serves the config.
	key := []byte("k")
	vb := uint16(vbucketOf(key, c.NumVBuckets()))
	owner := c.VBucketOwner("default", int(vb))
	okv := dialKV(t, owner.KVAddr())
	okv.login("default")
	if r := okv.do(memcached.OpSet, vb, 0, setExtras(0, 0), key, []byte("v")); r.Status != memcached.StatusSuccess {
		t.Errorf("SET while the managers are unreachable: %s", r.Status)
	}
	if r := kv.do(memcached.OpGetClusterConfig, 0, 0, nil, nil, nil); r.Status != memcached.StatusSuccess || parseTerse(t, r.Value).Rev != c.Revision() {
		t.Errorf("GET_CLUSTER_CONFIG while unreachable: %s", r.Status)
	}
	// The control endpoint still answers, as the first node.
	if code, body := httpDo(t, "GET", control.URL+"/sim/switches", testUser, testPass, nil); code != 200 ||
		!strings.Contains(string(body), `"mgmtReachable":false`) {
		t.Errorf("GET /sim/switches: %d %s", code, body)
	}
	if code, _ := httpDo(t, "POST", control.URL+"/sim/mgmt", testUser, testPass, url.Values{"reachable": {"true"}}); code != 200 {
		t.Fatalf("POST /sim/mgmt reachable=true: %d", code)
	}
	for _, x := range c.Nodes() {
		if code, err := getErr(x.MgmtURL() + "/pools"); err != nil || code != 200 {
			t.Errorf("GET %s/pools after reachable=true: %d %v", x.MgmtURL(), code, err)
		}
	}
	stream = openStream(t, n.MgmtURL()+"/pools/default/bs/default")
	if got := stream.next(t); got != c.Revision() {
		t.Errorf("new stream rev %d, want %d", got, c.Revision())
	}
}

func TestStreamsStalled(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2})
	old := openStream(t, c.SeedURL()+"/pools/default/bs/default")
	if got := old.next(t); got != c.Revision() {
		t.Fatalf("first config rev %d, want %d", got, c.Revision())
	}
	if code, _ := httpDo(t, "POST", c.SeedURL()+"/sim/streams", testUser, testPass, url.Values{"stalled": {"true"}}); code != 200 {
		t.Fatalf("POST /sim/streams: %d", code)
	}
	if !c.StreamsStalled() {
		t.Fatal("StreamsStalled() false")
	}
	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	old.noConfig(t, 300*time.Millisecond, "stalled open stream after AddNode")
	// A stream opened while stalled delivers its first config only.
	fresh := openStream(t, c.SeedURL()+"/pools/default/bucketsStreaming/default")
	if got := fresh.next(t); got != c.Revision() {
		t.Fatalf("stream opened while stalled: rev %d, want %d", got, c.Revision())
	}
	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	fresh.noConfig(t, 300*time.Millisecond, "stream opened while stalled, after AddNode")
	// Other reads still answer.
	if code, body := httpDo(t, "GET", c.SeedURL()+"/pools/default/b/default", testUser, testPass, nil); code != 200 || parseTerse(t, body).Rev != c.Revision() {
		t.Errorf("terse config while stalled: %d", code)
	}
	c.SetStreamsStalled(false)
	for _, s := range []*streamReader{old, fresh} {
		if got := s.next(t); got != c.Revision() {
			t.Errorf("released stream: rev %d, want %d", got, c.Revision())
		}
	}
	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	if got := old.next(t); got != c.Revision() {
		t.Errorf("released stream after AddNode: rev %d, want %d", got, c.Revision())
	}
}

func TestSwitchRoutes(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1})
	base := c.SeedURL()
	if code, _ := httpDo(t, "POST", base+"/sim/push", testUser, testPass, url.Values{"enabled": {"false"}}); code != 200 || c.ClustermapPush() {
		t.Errorf("POST /sim/push enabled=false: %d, push %v", code, c.ClustermapPush())
	}
	if code, _ := httpDo(t, "POST", base+"/sim/push", testUser, testPass, url.Values{}); code != 400 {
		t.Errorf("POST /sim/push without enabled: %d, want 400", code)
	}
	if code, _ := httpDo(t, "POST", base+"/sim/streams", testUser, testPass, url.Values{"stalled": {"1"}}); code != 200 || !c.StreamsStalled() {
		t.Errorf("POST /sim/streams stalled=1: %d, stalled %v", code, c.StreamsStalled())
	}
	if code, _ := httpDo(t, "POST", base+"/sim/mgmt", testUser, testPass, url.Values{"reachable": {"false"}}); code != 404 && code != 405 {
		t.Errorf("POST /sim/mgmt on a node: %d, want it absent (only ControlHandler serves it)", code)
	}
	code, body := httpDo(t, "GET", base+"/sim/switches", testUser, testPass, nil)
	var sw map[string]bool
	if err := json.Unmarshal(body, &sw); code != 200 || err != nil || sw["clustermapPush"] || !sw["streamsStalled"] || !sw["mgmtReachable"] {
		t.Errorf("GET /sim/switches: %d %s", code, body)
	}
}

func TestMgmtUnreachableTLS(t *testing.T) {
	c, dir := startTLSCluster(t, Options{Nodes: 1})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: caPool(t, dir)}, DisableKeepAlives: true}}
	get := func() (int, error) {
		req, err := http.NewRequest("GET", c.Nodes()[0].MgmtTLSURL()+"/pools", nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	if code, err := get(); err != nil || code != 200 {
		t.Fatalf("https /pools: %d %v", code, err)
	}
	c.SetMgmtReachable(false)
	if code, err := get(); err == nil {
		t.Errorf("https /pools while unreachable: %d, want a connection error", code)
	}
	c.SetMgmtReachable(true)
	if code, err := get(); err != nil || code != 200 {
		t.Errorf("https /pools after reachable again: %d %v", code, err)
	}
}
