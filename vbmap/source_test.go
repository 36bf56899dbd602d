package vbmap

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fastOptions returns options with short backoffs and poll interval, for
// the cluster manager only (the CCCP tests choose their config source).
func fastOptions(bucket string, seeds ...string) SourceOptions {
	return SourceOptions{
		Seeds: seeds, Bucket: bucket, User: "Administrator", Password: "password",
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, PollInterval: 5 * time.Millisecond,
		ConfigSource: ConfigSourceHTTP,
	}
}

// recorder collects what a Source reports.
type recorder struct {
	mu        sync.Mutex
	revs      []int64
	origins   []string
	fetchErrs []string // "url: error"
}

func (r *recorder) sub(old, new *Map) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revs = append(r.revs, new.Revision().Rev)
	r.origins = append(r.origins, new.Origin())
}

func (r *recorder) onFetchError(u string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fetchErrs = append(r.fetchErrs, u+": "+err.Error())
}

func (r *recorder) snapshot() (revs []int64, origins, fetchErrs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.revs...), append([]string(nil), r.origins...), append([]string(nil), r.fetchErrs...)
}

func (r *recorder) lastRev() int64 {
	revs, _, _ := r.snapshot()
	if len(revs) == 0 {
		return 0
	}
	return revs[len(revs)-1]
}

// startSource creates a Source with a recorder and runs it until the test
// ends; the cleanup checks that Run returns once its context is cancelled.
func startSource(t *testing.T, o SourceOptions) (*Source, *recorder, <-chan error) {
	t.Helper()
	rec := &recorder{}
	o.OnFetchError = rec.onFetchError
	src, err := NewSource(o)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	src.Subscribe(rec.sub)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		done <- src.Run(ctx)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after its context was cancelled")
		}
	})
	return src, rec, done
}

func waitReady(t *testing.T, src *Source) {
	t.Helper()
	select {
	case <-src.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the first map")
	}
}

func TestSourceStreamAppliesInOrder(t *testing.T) {
	cm := newFakeCM(t, "default")
	cm.set(testConfig(1, "default", cm.port()))
	src, rec, _ := startSource(t, fastOptions("default", cm.URL()))
	waitReady(t, src)
	if got := src.Current(); got.Origin() != OriginStream || got.Revision() != (Revision{1, 1}) {
		t.Fatalf("first map: origin %q rev %v, want stream 1/1", got.Origin(), got.Revision())
	}
	// $HOST became the host of the URL streamed from.
	if got, want := src.Current().Nodes()[0].Addr, "127.0.0.1:11210"; got != want {
		t.Errorf("node 0 Addr = %q, want %q", got, want)
	}
	for _, rev := range []int64{2, 3, 2, 1, 3, 5} {
		cm.push(testConfig(rev, "default", cm.port()))
	}
	waitFor(t, "rev 5", func() bool { return rec.lastRev() == 5 })
	revs, origins, _ := rec.snapshot()
	if want := []int64{1, 2, 3, 5}; !equalInts(revs, want) {
		t.Errorf("applied revs %v, want %v (stale and equal revs ignored)", revs, want)
	}
	for i, o := range origins {
		if o != OriginStream {
			t.Errorf("change %d origin %q, want %q", i, o, OriginStream)
		}
	}
	if got := cm.hitCount("bs"); got != 1 {
		t.Errorf("stream requests = %d, want 1 (no reconnect without a drop)", got)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSourceStreamReconnects(t *testing.T) {
	cm := newFakeCM(t, "default")
	cm.set(testConfig(1, "default", cm.port()))
	src, rec, _ := startSource(t, fastOptions("default", cm.URL()))
	waitReady(t, src)
	<-cm.streamStart
	cm.dropStreams()
	// The config changes while the proxy is disconnected.
	cm.configure(func(cm *fakeCM) { cm.config = testConfig(7, "default", cm.port()) })
	waitFor(t, "rev 7 after reconnect", func() bool { return rec.lastRev() == 7 })
	if got := cm.hitCount("bs"); got < 2 {
		t.Errorf("stream requests = %d, want >= 2", got)
	}
	_, _, errs := rec.snapshot()
	if len(errs) == 0 || !strings.Contains(errs[0], "closed by server") {
		t.Errorf("fetch errors %q, want the stream end reported", errs)
	}
}

func TestSourceDeadSeedFailsOver(t *testing.T) {
	cm := newFakeCM(t, "default")
	cm.set(testConfig(3, "default", cm.port()))
	dead := deadURL(t)
	src, rec, _ := startSource(t, fastOptions("default", dead, cm.URL()))
	waitReady(t, src)
	if got := src.Current().Revision().Rev; got != 3 {
		t.Errorf("rev %d, want 3", got)
	}
	_, _, errs := rec.snapshot()
	if len(errs) == 0 || !strings.HasPrefix(errs[0], dead+"/pools/default/bs/default: ") ||
		!strings.Contains(errs[0], ErrUnreachable.Error()) {
		t.Errorf("fetch errors %q, want the dead seed named as unreachable", errs)
	}
}

// The seed node goes away: the source continues from another node learned
// from the config (its mgmt port in nodesExt).
func TestSourceFailsOverToLearnedNode(t *testing.T) {
	seed := newFakeCM(t, "default")
	other := newFakeCM(t, "default")
	cfg := testConfig(10, "default", seed.port(), other.port())
	seed.set(cfg)
	other.set(cfg)
	src, rec, _ := startSource(t, fastOptions("default", seed.URL()))
	waitReady(t, src)
	if got, want := src.Current().MgmtURLs(), []string{seed.URL(), other.URL()}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("MgmtURLs = %v, want %v", got, want)
	}
	seed.close()
	other.set(testConfig(11, "default", seed.port(), other.port()))
	waitFor(t, "rev 11 from the other node", func() bool { return rec.lastRev() == 11 })
	if other.hitCount("bs") == 0 {
		t.Errorf("the other node was never streamed from")
	}
}

func TestSourceUnauthorized(t *testing.T) {
	cm := newFakeCM(t, "default")
	cm.set(testConfig(1, "default", cm.port()))
	o := fastOptions("default", cm.URL())
	o.Password = "wrong"
	src, _, done := startSource(t, o)
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not give up on 401")
	}
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), cm.URL()+"/pools/default/bs/default") {
		t.Errorf("Run error %q, want ErrUnauthorized naming the URL", err)
	}
	_, _, err = src.Refresh(context.Background())
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), cm.URL()+"/pools/default/b/default") {
		t.Errorf("Refresh error %q, want ErrUnauthorized naming the URL", err)
	}
	if src.Current() != nil {
		t.Errorf("Current() = %v after 401, want nil", src.Current())
	}
}

func TestSourceUnknownBucket(t *testing.T) {
	cm := newFakeCM(t, "default")
	cm.set(testConfig(1, "default", cm.port()))
	src, _, done := startSource(t, fastOptions("nosuch", cm.URL()))
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not give up on 404")
	}
	if !errors.Is(err, ErrNoBucket) {
		t.Fatalf("Run error %q, want ErrNoBucket", err)
	}
	for _, kind := range []string{"bs", "bucketsStreaming", "b", "buckets"} {
		if u := cm.URL() + "/pools/default/" + kind + "/nosuch"; !strings.Contains(err.Error(), u) {
			t.Errorf("Run error %q does not name %s", err, u)
		}
	}
	if !strings.Contains(err.Error(), `unknown bucket "nosuch"`) {
		t.Errorf("Run error %q does not name the bucket", err)
	}
	if _, _, err := src.Refresh(context.Background()); !errors.Is(err, ErrNoBucket) {
		t.Errorf("Refresh error %v, want ErrNoBucket", err)
	}
}

// One seed answers 404 and another serves the bucket: not fatal.
func TestSourceNoBucketOnOneSeedOnly(t *testing.T) {
	empty := newFakeCM(t, "other")
	empty.set(testConfig(1, "other", empty.port()))
	cm := newFakeCM(t, "default")
	cm.set(testConfig(4, "default", cm.port()))
	src, _, _ := startSource(t, fastOptions("default", empty.URL(), cm.URL()))
	waitReady(t, src)
	if got := src.Current().Revision().Rev; got != 4 {
		t.Errorf("rev %d, want 4", got)
	}
}

func TestSourcePollsWhenStreamingUnavailable(t *testing.T) {
	tests := []struct {
		name     string
		noTerse  bool
		wantPath string
	}{
		{"terse", false, "b"},
		{"full only", true, "buckets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := newFakeCM(t, "default")
			cm.configure(func(cm *fakeCM) { cm.noStream, cm.noLegacy, cm.noTerse = true, true, tt.noTerse })
			cm.set(testConfig(1, "default", cm.port()))
			src, rec, _ := startSource(t, fastOptions("default", cm.URL()))
			waitReady(t, src)
			if got := src.Current().Origin(); got != OriginFetch {
				t.Errorf("first map origin %q, want %q", got, OriginFetch)
			}
			cm.set(testConfig(2, "default", cm.port()))
			waitFor(t, "polled rev 2", func() bool { return rec.lastRev() == 2 })
			if got := src.Current().Origin(); got != OriginPoll {
				t.Errorf("second map origin %q, want %q", got, OriginPoll)
			}
			if cm.hitCount(tt.wantPath) < 2 {
				t.Errorf("%s requests = %d, want >= 2", tt.wantPath, cm.hitCount(tt.wantPath))
			}
			if tt.noTerse && cm.hitCount("b") != 1 {
				t.Errorf("terse requests = %d, want 1 (full remembered after a 404)", cm.hitCount("b"))
			}
		})
	}
}

func TestSourceLegacyStream(t *testing.T) {
	cm := newFakeCM(t, "default")
	cm.configure(func(cm *fakeCM) { cm.noStream = true })
	cm.set(testConfig(1, "default", cm.port()))
	src, _, _ := startSource(t, fastOptions("default", cm.URL()))
	waitReady(t, src)
	if got := <-cm.streamStart; got != "bucketsStreaming" {
		t.Errorf("streamed from %q, want bucketsStreaming", got)
	}
	if got := src.Current().Origin(); got != OriginStream {
		t.Errorf("origin %q, want %q", got, OriginStream)
	}
}

// A malformed or invalid config in the stream is reported and skipped; the
// current map stays and later configs still apply.
func TestSourceRejectsBadStreamedConfig(t *testing.T) {
	cm := newFakeCM(t, "default")
	cm.set(testConfig(1, "default", cm.port()))
	src, rec, _ := startSource(t, fastOptions("default", cm.URL()))
	waitReady(t, src)
	cm.push([]byte(`{"rev":2,"nodeLocator":"vbucket","vBucketServerMap":{"hashAlgorithm":"CRC","serverList":["$HOST:11210"],"vBucketMap":[[3]]}}`))
	cm.push([]byte(`{"rev":3,"name":"other","vBucketServerMap":{"serverList":["$HOST:11210"],"vBucketMap":[[0]]}}`))
	cm.push(testConfig(4, "default", cm.port()))
	waitFor(t, "rev 4", func() bool { return rec.lastRev() == 4 })
	revs, _, errs := rec.snapshot()
	if !equalInts(revs, []int64{1, 4}) {
		t.Errorf("applied revs %v, want [1 4]", revs)
	}
	if len(errs) != 2 || !strings.Contains(errs[0], "vBucketMap[0][0]: index 3 outside serverList (1 entries)") ||
		!strings.Contains(errs[1], ErrBucketMismatch.Error()) {
		t.Errorf("fetch errors %q, want the index error and the bucket mismatch", errs)
	}
}

func TestSourceRefresh(t *testing.T) {
	cm := newFakeCM(t, "default")
	cm.configure(func(cm *fakeCM) { cm.noStream, cm.noLegacy = true, true })
	cm.set(testConfig(5, "default", cm.port()))
	o := fastOptions("default", deadURL(t), cm.URL())
	src, err := NewSource(o)
	if err != nil {
		t.Fatal(err)
	}
	old, cur, err := src.Refresh(context.Background())
	if err != nil || old != (Revision{}) || cur != (Revision{1, 5}) {
		t.Fatalf("Refresh = (%v, %v, %v), want (0/0, 1/5, nil)", old, cur, err)
	}
	if got := src.Current().Origin(); got != OriginReload {
		t.Errorf("origin %q, want %q", got, OriginReload)
	}
	cm.set(testConfig(6, "default", cm.port()))
	if old, cur, err := src.Refresh(context.Background()); err != nil || old != (Revision{1, 5}) || cur != (Revision{1, 6}) {
		t.Errorf("second Refresh = (%v, %v, %v), want (1/5, 1/6, nil)", old, cur, err)
	}
	// An older config leaves the map as it is.
	cm.set(testConfig(2, "default", cm.port()))
	if old, cur, err := src.Refresh(context.Background()); err != nil || old != cur || cur != (Revision{1, 6}) {
		t.Errorf("Refresh of an older config = (%v, %v, %v), want (1/6, 1/6, nil)", old, cur, err)
	}
}

func TestSourceRefreshAllUnreachable(t *testing.T) {
	a, b := deadURL(t), deadURL(t)
	src, err := NewSource(fastOptions("default", a, b))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = src.Refresh(context.Background())
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Refresh error %v, want ErrUnreachable", err)
	}
	for _, u := range []string{a, b} {
		if !strings.Contains(err.Error(), u+"/pools/default/b/default") {
			t.Errorf("Refresh error %q does not name %s", err, u)
		}
	}
}

func TestSourceRunReturnsOnCancelWhileStreaming(t *testing.T) {
	cm := newFakeCM(t, "default")
	cm.set(testConfig(1, "default", cm.port()))
	src, err := NewSource(fastOptions("default", cm.URL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	waitReady(t, src)
	<-cm.streamStart
	if err := src.Run(ctx); err == nil || !strings.Contains(err.Error(), "called twice") {
		t.Errorf("second Run = %v, want an error", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// The stream's server side sees the client go away.
	waitFor(t, "the stream to close", func() bool {
		cm.mu.Lock()
		defer cm.mu.Unlock()
		return len(cm.streams) == 0
	})
}

func TestSourceRunReturnsOnCancelWhileBackingOff(t *testing.T) {
	o := fastOptions("default", deadURL(t))
	o.MinBackoff, o.MaxBackoff = time.Hour, time.Hour
	src, err := NewSource(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	time.Sleep(20 * time.Millisecond) // let it fail once and start waiting
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
