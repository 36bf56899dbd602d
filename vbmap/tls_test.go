package vbmap

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// An https seed: the config is fetched over TLS and the management URLs
// learned from it use https and the mgmtSSL port.
func TestSourceHTTPS(t *testing.T) {
	var port string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pools/default/b/default" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"rev":2,"name":"default","vBucketServerMap":{"serverList":["$HOST:11207"],"vBucketMap":[[0],[0]]},
			"nodesExt":[{"services":{"mgmt":1,"mgmtSSL":%s,"kv":11210,"kvSSL":11207},"thisNode":true}]}`, port)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port = u.Port()
	o := fastOptions("default", srv.URL)
	o.HTTPClient = srv.Client()
	src := newTestSource(t, o)
	if _, _, err := src.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh over https: %v", err)
	}
	if got, want := src.Current().MgmtURLs(), []string{srv.URL}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("MgmtURLs = %v, want %v", got, want)
	}
	// The serverList entry has no nodesExt match on port 11207: its address is kept.
	if got, want := src.Current().Nodes()[0], (Node{Addr: "127.0.0.1:11207"}); got != want {
		t.Errorf("node 0 = %+v, want %+v", got, want)
	}
}
