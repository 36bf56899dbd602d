package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// clusterMap parses the simulated cluster's own config of bucket: the
// oracle the console's answers are checked against.
func clusterMap(t *testing.T, c *sim.Cluster) *vbmap.Map {
	t.Helper()
	m, err := vbmap.Parse(c.ConfigJSON("default"), vbmap.ParseOptions{Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// expectedGrid writes the /api/grid body for m from the map itself, with
// colours in node order (the first map a console sees).
func expectedGrid(m *vbmap.Map) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"bucket":"default","revision":%q,"vbuckets":%d,"columns":%d,"nodes":[`, m.Revision().String(), m.NumVBuckets(), 8)
	for i, n := range m.Nodes() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"address":%q,"colour":%d}`, n.Addr, i)
	}
	var active, replicas []string
	for vb := range m.NumVBuckets() {
		active = append(active, fmt.Sprint(m.Active(uint16(vb))))
		r, _ := json.Marshal(m.Replicas(uint16(vb)))
		replicas = append(replicas, string(r))
	}
	fmt.Fprintf(&b, `],"active":[%s],"replicas":[%s]}`+"\n", strings.Join(active, ","), strings.Join(replicas, ","))
	return b.String()
}

// TestConsoleAPIRunning: the console's endpoints over real HTTP against a
// running proxy in front of the simulated cluster.
func TestConsoleAPIRunning(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 3})
	cfg, sec := testConfig(t, c)
	r := startApp(t, cfg, sec)
	waitFor(t, "readyz 200", func() bool { code, _, _ := httpDo(t, "GET", r.admin+"/readyz"); return code == 200 })
	setGet(t, r.proxy, 10)
	m := clusterMap(t, c)
	text, err := net.Dial("tcp", r.proxy) // a text-protocol client
	if err != nil {
		t.Fatal(err)
	}
	defer text.Close()
	_ = text.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := text.Write([]byte("version\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(text).ReadString('\n'); err != nil || !strings.HasPrefix(line, "VERSION ") {
		t.Fatalf("text version: %q %v", line, err)
	}

	code, _, body := httpDo(t, "GET", r.admin+"/api/grid")
	if want := expectedGrid(m); code != 200 || body != want {
		t.Errorf("/api/grid: %d\n got %s\nwant %s", code, body, want)
	}

	key := "user:42"
	vb := vbmap.VBucket([]byte(key), 64)
	owner := c.VBucketOwner("default", int(vb)).KVAddr()
	idx := -1
	for i, n := range m.Nodes() {
		if n.Addr == owner {
			idx = i
		}
	}
	var reps []string
	for _, ri := range m.Replicas(vb) {
		reps = append(reps, fmt.Sprintf(`{"index":%d,"address":%q,"colour":%d}`, ri, m.Nodes()[ri].Addr, ri))
	}
	code, _, body = httpDo(t, "GET", r.admin+"/api/key?key="+key)
	want := fmt.Sprintf(`{"bucket":"default","key":%q,"revision":%q,"vbucket":%d,"active":{"index":%d,"address":%q,"colour":%d},"replicas":[%s]}`,
		key, m.Revision().String(), vb, idx, owner, idx, strings.Join(reps, ","))
	if code != 200 {
		t.Errorf("/api/key: %d %s", code, body)
	}
	sameJSON(t, "/api/key", body, want)

	code, _, body = httpDo(t, "GET", r.admin+"/api/state")
	var st struct {
		Ready   bool `json:"ready"`
		Buckets []struct {
			Name     string `json:"name"`
			Revision string `json:"revision"`
			VBuckets int    `json:"vbuckets"`
			Nodes    []struct {
				Address string `json:"address"`
				State   string `json:"state"`
				Conns   int    `json:"connections"`
				Active  int    `json:"active_vbuckets"`
			} `json:"nodes"`
			Clients struct {
				Accepted   uint64           `json:"accepted"`
				ByProtocol map[string]int64 `json:"by_protocol"`
			} `json:"clients"`
		} `json:"buckets"`
		Events []struct{ Kind, Message string } `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("/api/state: %d %v\n%s", code, err, body)
	}
	if len(st.Buckets) != 1 || !st.Ready || st.Buckets[0].Revision != m.Revision().String() || st.Buckets[0].VBuckets != 64 {
		t.Fatalf("/api/state: %s", body)
	}
	b := st.Buckets[0]
	total := 0
	for i, n := range b.Nodes {
		if n.Address != m.Nodes()[i].Addr || n.State != "up" || n.Conns < 1 {
			t.Errorf("node %d: %+v, want %s up with connections", i, n, m.Nodes()[i].Addr)
		}
		total += n.Active
	}
	if len(b.Nodes) != 3 || total != 64 || b.Clients.Accepted != 2 {
		t.Errorf("state: %d nodes owning %d vBuckets, %d clients accepted; want 3, 64, 2", len(b.Nodes), total, b.Clients.Accepted)
	}
	if p := b.Clients.ByProtocol; len(p) != 2 || p["binary"] != 1 || p["text"] != 1 {
		t.Errorf("clients by protocol %v, want binary 1, text 1", p)
	}
	first := regexp.MustCompile(`^map ` + regexp.QuoteMeta(m.Revision().String()) + ` \((fetch|stream)\): 3 nodes, 64 vBuckets$`)
	if len(st.Events) == 0 || st.Events[len(st.Events)-1].Kind != "map" || !first.MatchString(st.Events[len(st.Events)-1].Message) {
		t.Errorf("events %v, want the first map's event first", st.Events)
	}

	code, _, body = httpDo(t, "GET", r.admin+"/")
	if code != 200 || strings.Count(body, "<i class=\"a") != 64 {
		t.Errorf("GET /: %d with %d cells, want 64", code, strings.Count(body, "<i class=\"a"))
	}
}
