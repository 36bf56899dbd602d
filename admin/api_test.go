package admin

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// Two nodes, four vBuckets; vBucket 1 moves from node 1 to node 0 and
// vBucket 2 from node 0 to node 1.
var (
	apiNodes   = []string{"127.0.0.1:11210", "127.0.0.1:11211"}
	apiTable   = [][]int{{0, 1}, {1, 0}, {0, 1}, {1, 0}}
	apiForward = [][]int{{0, 1}, {0, 1}, {1, 0}, {1, 0}}
)

// apiEnv is a console over that map with known traffic: over 5 seconds,
// node 0 answered 10 requests in 2ms each (one of them NOT_MY_VBUCKET) and
// node 1 failed 5 with a timeout; clients sent 500 requests.
func apiEnv(t *testing.T, o Options) *consoleEnv {
	t.Helper()
	env := newConsoleEnv(t, o, "default")
	m := mapWith(t, "default", 5, apiNodes, apiTable, apiForward)
	env.maps[0].cur.Store(m)
	env.srv.MapChanged("default", nil, m)
	p := env.proxies[0]
	p.setNodes(
		NodeStatus{Addr: apiNodes[0], State: "up", Conns: 2},
		NodeStatus{Addr: apiNodes[1], State: "down", Reason: "dial tcp 127.0.0.1:11211: connection refused"},
		NodeStatus{Addr: "127.0.0.1:11212", State: "connecting"}, // left the map, still draining
	)
	p.clients = ClientStats{Connections: 3, Accepted: 10, Refused: 1, AuthFailures: 2, Requests: 100, ByProtocol: map[string]int64{"binary": 3}}
	env.tick(0)
	bm := env.metrics.Bucket("default")
	for i := range 10 {
		st := memcached.StatusSuccess
		if i == 0 {
			st = memcached.StatusNotMyVBucket
		}
		bm.UpstreamRequest(apiNodes[0], st, 2*time.Millisecond)
	}
	for range 5 {
		bm.UpstreamError(apiNodes[1], "timeout")
	}
	p.mu.Lock()
	p.clients.Requests = 600
	p.mu.Unlock()
	env.tick(5 * time.Second)
	return env
}

func TestAPIState(t *testing.T) {
	env := apiEnv(t, Options{Version: "1.2.3"})
	code, hdr, body := do(t, "GET", env.url+"/api/state")
	if code != 200 || hdr.Get("Content-Type") != "application/json" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /api/state: %d %v", code, hdr)
	}
	// p50 of ten 2ms requests in the (1ms, 2.5ms] bucket: 1ms + 1.5ms*5/10;
	// p99: 1ms + 1.5ms*9.9/10.
	sameJSON(t, "/api/state", body, `{
		"time": "2026-12-01T21:40:05Z", "version": "1.2.3", "ready": true, "token_required": false,
		"buckets": [{
			"name": "default", "revision": "1/5", "origin": "stream", "changed": "2026-12-01T21:40:00Z",
			"vbuckets": 4, "replicas": 1, "moving": 2,
			"nodes": [
				{"index": 0, "colour": 0, "address": "127.0.0.1:11210", "state": "up", "connections": 2,
				 "active_vbuckets": 2, "replica_vbuckets": 2, "incoming_vbuckets": 1,
				 "requests_per_second": 2, "errors_per_second": 0, "p50_seconds": 0.00175, "p99_seconds": 0.002485, "nmvb_replies": 1},
				{"index": 1, "colour": 1, "address": "127.0.0.1:11211", "state": "down",
				 "reason": "dial tcp 127.0.0.1:11211: connection refused", "connections": 0,
				 "active_vbuckets": 2, "replica_vbuckets": 2, "incoming_vbuckets": 1,
				 "requests_per_second": 0, "errors_per_second": 1, "p50_seconds": null, "p99_seconds": null, "nmvb_replies": 0},
				{"index": -1, "colour": -1, "address": "127.0.0.1:11212", "state": "connecting", "connections": 0,
				 "active_vbuckets": 0, "replica_vbuckets": 0, "incoming_vbuckets": 0,
				 "requests_per_second": 0, "errors_per_second": 0, "p50_seconds": null, "p99_seconds": null, "nmvb_replies": 0}
			],
			"clients": {"connections": 3, "accepted": 10, "refused": 1, "auth_failures": 2, "requests_per_second": 100,
			            "by_protocol": {"binary": 3}}
		}],
		"events": [
			{"time": "2026-12-01T21:40:00Z", "bucket": "default", "kind": "node", "message": "node 127.0.0.1:11211 down: dial tcp 127.0.0.1:11211: connection refused"},
			{"time": "2026-12-01T21:40:00Z", "bucket": "default", "kind": "map", "message": "map 1/5 (stream): 2 nodes, 4 vBuckets, 2 moving"}
		]
	}`)
}

func TestAPIStateWithoutMap(t *testing.T) {
	env := newConsoleEnv(t, Options{Token: "s3cret-s3cret-s3cret"}, "default")
	_, _, body := do(t, "GET", env.url+"/api/state")
	sameJSON(t, "/api/state before a map", body, `{
		"time": "2026-12-01T21:40:00Z", "ready": false,
		"not_ready": "bucket \"default\": no vBucket map loaded yet", "token_required": true,
		"buckets": [{"name": "default", "vbuckets": 0, "replicas": 0, "moving": 0,
		             "error": "no vBucket map loaded yet", "nodes": [],
		             "clients": {"connections": 0, "accepted": 0, "refused": 0, "auth_failures": 0, "requests_per_second": 0}}],
		"events": []
	}`)
}

func TestAPIGrid(t *testing.T) {
	env := apiEnv(t, Options{})
	code, _, body := do(t, "GET", env.url+"/api/grid")
	want := `{"bucket":"default","revision":"1/5","vbuckets":4,"columns":2,` +
		`"nodes":[{"address":"127.0.0.1:11210","colour":0},{"address":"127.0.0.1:11211","colour":1}],` +
		`"active":[0,1,0,1],"replicas":[[1],[0],[1],[0]],"forward":[0,0,1,1]}` + "\n"
	if code != 200 || body != want {
		t.Errorf("GET /api/grid: %d\n got %s\nwant %s", code, body, want)
	}
	if code, _, body := do(t, "GET", env.url+"/api/grid?bucket=nope"); code != 404 {
		t.Errorf("unknown bucket: %d %s, want 404", code, body)
	}
	// Without a rebalance there is no forward table.
	env.maps[0].cur.Store(mapWith(t, "default", 6, apiNodes, apiTable, nil))
	_, _, body = do(t, "GET", env.url+"/api/grid")
	sameJSON(t, "grid after the rebalance", body, `{"bucket":"default","revision":"1/6","vbuckets":4,"columns":2,
		"nodes":[{"address":"127.0.0.1:11210","colour":0},{"address":"127.0.0.1:11211","colour":1}],
		"active":[0,1,0,1],"replicas":[[1],[0],[1],[0]]}`)
}

// TestColoursStable: a node keeps its colour while it stays in the map,
// however the node list is reordered; a new node takes the lowest free one.
func TestColoursStable(t *testing.T) {
	env := newConsoleEnv(t, Options{}, "default")
	a, b, c, d := "10.0.0.1:11210", "10.0.0.2:11210", "10.0.0.3:11210", "10.0.0.4:11210"
	steps := []struct {
		nodes []string
		want  string
	}{
		{[]string{a, b, c}, `[{"address":"10.0.0.1:11210","colour":0},{"address":"10.0.0.2:11210","colour":1},{"address":"10.0.0.3:11210","colour":2}]`},
		{[]string{c, d, a}, `[{"address":"10.0.0.3:11210","colour":2},{"address":"10.0.0.4:11210","colour":1},{"address":"10.0.0.1:11210","colour":0}]`},
		{[]string{d, c, b, a}, `[{"address":"10.0.0.4:11210","colour":1},{"address":"10.0.0.3:11210","colour":2},{"address":"10.0.0.2:11210","colour":3},{"address":"10.0.0.1:11210","colour":0}]`},
	}
	for i, st := range steps {
		table := make([][]int, 4)
		for vb := range table {
			table[vb] = []int{vb % len(st.nodes)}
		}
		env.maps[0].cur.Store(mapWith(t, "default", int64(i+1), st.nodes, table, nil))
		var g Grid
		_, _, body := do(t, "GET", env.url+"/api/grid")
		decode(t, body, &g)
		if got := compactJSON(t, mustJSON(t, g.Nodes)); got != st.want {
			t.Errorf("step %d: nodes %s, want %s", i, got, st.want)
		}
	}
}

func TestAPIKey(t *testing.T) {
	env := apiEnv(t, Options{})
	env.proxies[0].probe = ProbeResult{VBucket: 1, Node: apiNodes[1], Exists: true, CAS: 1<<63 + 5, Flags: 42, Size: 1000}
	tests := []struct {
		name, query string
		code        int
		want        string
	}{
		{"moving key", "key=user:1", 200, `{"bucket":"default","key":"user:1","revision":"1/5","vbucket":1,
			"active":{"index":1,"address":"127.0.0.1:11211","colour":1},
			"replicas":[{"index":0,"address":"127.0.0.1:11210","colour":0}],
			"forward":{"index":0,"address":"127.0.0.1:11210","colour":0}}`},
		{"settled key", "key=user:2&bucket=default", 200, `{"bucket":"default","key":"user:2","revision":"1/5","vbucket":0,
			"active":{"index":0,"address":"127.0.0.1:11210","colour":0},
			"replicas":[{"index":1,"address":"127.0.0.1:11211","colour":1}]}`},
		{"binary key", "key_b64=AP94", 200, `{"bucket":"default","key_b64":"AP94","revision":"1/5","vbucket":3,
			"active":{"index":1,"address":"127.0.0.1:11211","colour":1},
			"replicas":[{"index":0,"address":"127.0.0.1:11210","colour":0}]}`},
		{"url-safe unpadded base64", "key_b64=AP94&probe=0", 200, `{"bucket":"default","key_b64":"AP94","revision":"1/5","vbucket":3,
			"active":{"index":1,"address":"127.0.0.1:11211","colour":1},
			"replicas":[{"index":0,"address":"127.0.0.1:11210","colour":0}]}`},
		{"probe", "key=user:1&probe=1", 200, `{"bucket":"default","key":"user:1","revision":"1/5","vbucket":1,
			"active":{"index":1,"address":"127.0.0.1:11211","colour":1},
			"replicas":[{"index":0,"address":"127.0.0.1:11210","colour":0}],
			"forward":{"index":0,"address":"127.0.0.1:11210","colour":0},
			"probe":{"node":"127.0.0.1:11211","vbucket":1,"exists":true,"cas":"9223372036854775813","flags":42,"size":1000}}`},
		{"no key", "", 400, `{"field":"key","error":"required: the key to look up (key_b64 for a binary key)"}`},
		{"empty key", "key=", 400, `{"field":"key","error":"required: the key to look up (key_b64 for a binary key)"}`},
		{"both", "key=a&key_b64=YQ", 400, `{"field":"key","error":"give key or key_b64, not both"}`},
		{"bad base64", "key_b64=!!!", 400, `{"field":"key_b64","error":"not base64: illegal base64 data at input byte 0"}`},
		{"too long", "key=" + string(make251()), 400, `{"field":"key","error":"251 bytes: memcached keys have at most 250"}`},
		{"unknown bucket", "key=a&bucket=nope", 404, `{"error":"unknown bucket \"nope\""}`},
	}
	for _, tt := range tests {
		code, _, body := do(t, "GET", env.url+"/api/key?"+tt.query)
		if code != tt.code {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, code, tt.code, body)
		}
		sameJSON(t, tt.name, body, tt.want)
	}
	if got := env.proxies[0].probed; len(got) != 1 || string(got[0]) != "user:1" {
		t.Errorf("probed keys %q, want only user:1", got)
	}

	env.proxies[0].probe, env.proxies[0].err = ProbeResult{VBucket: 1, Node: apiNodes[1]}, errors.New("node 127.0.0.1:11211 is down")
	code, _, body := do(t, "GET", env.url+"/api/key?key=user:1&probe=1")
	if code != http.StatusBadGateway {
		t.Errorf("failed probe: status %d, want 502", code)
	}
	sameJSON(t, "failed probe", body, `{"bucket":"default","key":"user:1","revision":"1/5","vbucket":1,
		"active":{"index":1,"address":"127.0.0.1:11211","colour":1},
		"replicas":[{"index":0,"address":"127.0.0.1:11210","colour":0}],
		"forward":{"index":0,"address":"127.0.0.1:11210","colour":0},
		"probe":{"node":"127.0.0.1:11211","vbucket":1,"exists":false,"flags":0,"size":0,"error":"node 127.0.0.1:11211 is down"}}`)
}

func make251() []byte {
	b := make([]byte, 251)
	for i := range b {
		b[i] = 'k'
	}
	return b
}
