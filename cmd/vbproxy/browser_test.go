package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// The console in a real browser: headless Chromium (Debian's chromium,
// installed by .ci/run) driven by chromedp, against vbproxy in front of the
// simulated cluster. VBPROXY_CONSOLE_SCREENSHOT names where the screenshot
// taken during the rebalance goes (docs/console.png is one); by default a
// temporary directory.

// browser starts headless Chromium with a fresh profile and returns a
// context for its first tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (apt-get install chromium; .ci/run installs it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1280),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// Hang guard for the whole test, not a timing check.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// gridView is what the page shows of one bucket, read from the DOM with
// the colours the browser computed.
type gridView struct {
	Cells    int               `json:"cells"`
	ByColour map[string]int    `json:"byColour"` // computed background colour -> cells
	Legend   map[string]string `json:"legend"`   // node address -> swatch colour
	Revision string            `json:"revision"`
	Moving   int               `json:"moving"`
	Marker   int               `json:"marker"` // set by the test; survives only without a reload
}

// readEvents reads the events list, newest first.
const readEvents = `[...document.querySelectorAll('[data-events] li')].map(li => li.textContent)`

const readGrid = `(() => {
	const sec = document.querySelector('section.bucket[data-bucket="default"]');
	const cells = sec.querySelectorAll('[data-grid] > i');
	const byColour = {};
	for (const c of cells) { const k = getComputedStyle(c).backgroundColor; byColour[k] = (byColour[k] || 0) + 1; }
	const legend = {};
	for (const li of sec.querySelectorAll('[data-legend] li')) legend[li.dataset.node] = getComputedStyle(li.querySelector('.sw')).backgroundColor;
	return {cells: cells.length, byColour, legend, revision: sec.querySelector('[data-grid]').dataset.revision,
		moving: sec.querySelectorAll('[data-grid] > i.mv').length, marker: window.vbproxyTestMarker || 0};
})()`

func viewGrid(t *testing.T, ctx context.Context) gridView {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[gridView](readGrid))
	if err != nil {
		t.Fatalf("read the grid: %v", err)
	}
	return v
}

// activeCounts is the oracle: vBuckets per active node address in m.
func activeCounts(m *vbmap.Map) map[string]int {
	out := map[string]int{}
	for vb := range m.NumVBuckets() {
		if a := m.Active(uint16(vb)); a >= 0 {
			out[m.Nodes()[a].Addr]++
		}
	}
	return out
}

// matches reports whether the page shows m: one cell per vBucket, a legend
// entry with its own colour per node, and as many cells of each node's
// colour as the node has active vBuckets.
func (v gridView) matches(m *vbmap.Map) (bool, string) {
	want := activeCounts(m)
	if v.Cells != m.NumVBuckets() {
		return false, fmt.Sprintf("%d cells, want %d", v.Cells, m.NumVBuckets())
	}
	if len(v.Legend) != len(m.Nodes()) {
		return false, fmt.Sprintf("legend %v, want %d nodes", v.Legend, len(m.Nodes()))
	}
	seen := map[string]string{}
	for addr, colour := range v.Legend {
		if other, dup := seen[colour]; dup {
			return false, fmt.Sprintf("nodes %s and %s share the colour %s", addr, other, colour)
		}
		seen[colour] = addr
		if v.ByColour[colour] != want[addr] {
			return false, fmt.Sprintf("node %s (%s): %d cells, want %d; cells by colour %v", addr, colour, v.ByColour[colour], want[addr], v.ByColour)
		}
	}
	return true, ""
}

// waitPage polls the page until cond holds (hang guard 60s).
func waitPage(t *testing.T, ctx context.Context, what string, cond func(gridView) (bool, string)) gridView {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := viewGrid(t, ctx)
		ok, why := cond(v)
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("page: %s: gave up after 60s: %s", what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func screenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	path := os.Getenv("VBPROXY_CONSOLE_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "console.png")
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshot: %s (%d bytes)", path, len(png))
}

// traffic sends SETs and GETs to addr, about 500 a second, until stop is
// closed or it has sent max; it returns how many it sent and the first
// error. Bounded in count and time.
func traffic(addr string, stop <-chan struct{}, max int) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	r := memcached.NewReader(conn, memcached.ReaderOptions{})
	var buf []byte
	var p memcached.Packet
	for n := 0; n < max; n++ {
		select {
		case <-stop:
			return n, nil
		case <-time.After(2 * time.Millisecond):
		}
		key := []byte(fmt.Sprintf("load-%d", n%500))
		buf = memcached.AppendRequest(buf[:0], memcached.OpSet, 0, 1, 0, make([]byte, 8), key, []byte("v"))
		buf = memcached.AppendRequest(buf, memcached.OpGet, 0, 2, 0, nil, key, nil)
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := conn.Write(buf); err != nil {
			return n, err
		}
		for range 2 {
			if err := r.ReadResponse(&p); err != nil {
				return n, err
			}
		}
	}
	return max, nil
}

func TestConsoleInBrowser(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 3, VBuckets: 1024, RebalanceBatch: 32, RebalanceDelay: 400 * time.Millisecond})
	cfg, sec := testConfig(t, c)
	r := startApp(t, cfg, sec)
	waitFor(t, "readyz 200", func() bool { code, _, _ := httpDo(t, "GET", r.admin+"/readyz"); return code == 200 })
	setGet(t, r.proxy, 50)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(r.admin+"/"), chromedp.WaitVisible(chromedp.CSS(`section.bucket [data-grid]`)),
		chromedp.Evaluate[chromedp.Void](`window.vbproxyTestMarker = 1`)); err != nil {
		t.Fatalf("open the console: %v", err)
	}

	// One cell per vBucket, coloured by its active node.
	m0 := clusterMap(t, c)
	waitPage(t, ctx, "the first map", func(v gridView) (bool, string) { return v.matches(m0) })

	// Key lookup shows the key's node.
	key := "user:1001"
	owner := c.VBucketOwner("default", int(vbmap.VBucket([]byte(key), 1024))).KVAddr()
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID(`lookup-key`), key),
		chromedp.Click(chromedp.CSS(`#lookup-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#lookup-result [data-field="active-node"]`)),
	); err != nil {
		t.Fatalf("look up %s: %v", key, err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#lookup-result [data-field="active-node"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(shown) != owner {
		t.Errorf("lookup of %s shows node %q, want %s", key, shown, owner)
	}
	vbText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#lookup-result [data-field="vBucket"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(vbmap.VBucket([]byte(key), 1024)); vbText != want {
		t.Errorf("lookup shows vBucket %q, want %s", vbText, want)
	}

	// Hovering a cell names its vBucket's nodes.
	vb := 5
	name := func(i int) string { return m0.Nodes()[i].Addr }
	wantInfo := fmt.Sprintf("vBucket %d · active %s · replica %s", vb, name(m0.Active(uint16(vb))), name(m0.Replicas(uint16(vb))[0]))
	info, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
		const sec = document.querySelector('section.bucket[data-bucket="default"]');
		sec.querySelector('[data-grid]').children[%d].dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
		return sec.querySelector('[data-cellinfo]').textContent;
	})()`, vb)))
	if err != nil || info != wantInfo {
		t.Errorf("hover over vBucket %d: %q %v, want %q", vb, info, err, wantInfo)
	}

	// On a phone the page fits the screen's width (the node table scrolls
	// inside its box) and the grid keeps one cell per vBucket.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth,
		document.querySelector('[data-grid]').getBoundingClientRect().width|0]`))
	if err != nil || len(fits) != 3 || fits[0] > fits[1] || fits[2] > fits[1] || fits[2] < 300 {
		t.Errorf("on a 390px screen: page %v wide (page, window, grid), want the page and the grid within the window, the grid at least 300px", fits)
	}
	if err := chromedp.Do(ctx, chromedp.ResetViewport()); err != nil {
		t.Fatal(err)
	}

	// A rebalance onto a new node, under load: the page follows without
	// reloading.
	stop := make(chan struct{})
	loadDone := make(chan error, 1)
	go func() { _, err := traffic(r.proxy, stop, 100000); loadDone <- err }()
	added, err := c.AddNode()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Rebalance(context.Background()) }()
	time.Sleep(1500 * time.Millisecond) // not a check: load in the rates of the screenshot
	mid := waitPage(t, ctx, "cells moving to the new node", func(v gridView) (bool, string) {
		n := v.ByColour[v.Legend[added.KVAddr()]]
		return v.Legend[added.KVAddr()] != "" && (v.Moving > 0 || n > 0), fmt.Sprintf("new node %d cells, %d moving", n, v.Moving)
	})
	screenshot(t, ctx)
	if err := <-done; err != nil {
		t.Fatalf("rebalance: %v", err)
	}
	close(stop)
	if err := <-loadDone; err != nil {
		t.Errorf("traffic during the rebalance: %v", err)
	}
	m1 := clusterMap(t, c)
	final := waitPage(t, ctx, "the rebalanced map", func(v gridView) (bool, string) { return v.matches(m1) })
	if final.Marker != 1 || mid.Marker != 1 || final.Revision == m0.Revision().String() {
		t.Errorf("after the rebalance: marker %d (1 = no reload), revision %s (first %s)", final.Marker, final.Revision, m0.Revision())
	}
	if activeCounts(m1)[added.KVAddr()] == 0 {
		t.Fatalf("the rebalance moved nothing to %s", added.KVAddr())
	}

	// A failover while the survivors' config streams are held: the page
	// shows the lost node down (with the reason), then the new map without it.
	lost := c.Nodes()[1]
	var survivors []*sim.Node
	for _, n := range c.Nodes() {
		if n != lost {
			survivors = append(survivors, n)
		}
	}
	for _, n := range survivors {
		c.Pause(n)
	}
	if err := c.Failover(lost); err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf(`section.bucket tr[data-node=%q] td.st`, lost.KVAddr())
	var state string
	deadline := time.Now().Add(60 * time.Second)
	for !strings.HasPrefix(state, "down") {
		if time.Now().After(deadline) {
			t.Fatalf("node %s shows %q after 60s, want down", lost.KVAddr(), state)
		}
		time.Sleep(100 * time.Millisecond)
		state, _ = chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, row)))
	}
	t.Logf("failed-over node shown as %q", state)
	// Node events come from the admin sampler's ticks: keep the node down
	// (the survivors' streams held) until a tick has recorded it, or the
	// map without it may arrive first.
	downEvent := "node " + lost.KVAddr() + " down"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		events, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](readEvents))
		if strings.Contains(strings.Join(events, "\n"), downEvent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events lack %q 30s after the page showed the node down:\n%s", downEvent, strings.Join(events, "\n"))
		}
	}
	for _, n := range survivors {
		c.Resume(n)
	}
	m2 := clusterMap(t, c)
	final = waitPage(t, ctx, "the map after the failover", func(v gridView) (bool, string) { return v.matches(m2) })
	if _, ok := final.Legend[lost.KVAddr()]; ok || final.Marker != 1 {
		t.Errorf("after the failover: legend %v (want without %s), marker %d", final.Legend, lost.KVAddr(), final.Marker)
	}

	// The events list tells the story.
	events, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](readEvents))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(events, "\n")
	for _, want := range []string{"rebalance started", "rebalance finished", "node " + lost.KVAddr() + " down", "removed " + lost.KVAddr()} {
		if !strings.Contains(text, want) {
			t.Errorf("events lack %q:\n%s", want, text)
		}
	}
}
