package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// streamSeparator ends each config of a streaming response.
const streamSeparator = "\n\n\n\n"

// mgmtHandler returns the node's cluster manager routes.
func (n *Node) mgmtHandler() http.Handler {
	mux := http.NewServeMux()
	// Config reads stall while the node is paused; control calls do not.
	mux.HandleFunc("GET /pools", n.paused(n.handlePools))
	mux.HandleFunc("GET /pools/default", n.authed(n.paused(n.handlePoolDefault)))
	mux.HandleFunc("GET /pools/default/buckets", n.authed(n.paused(n.handleBucketList)))
	mux.HandleFunc("GET /pools/default/buckets/{bucket}", n.authed(n.paused(n.bucketHandler(false, false))))
	mux.HandleFunc("GET /pools/default/b/{bucket}", n.authed(n.paused(n.bucketHandler(true, false))))
	mux.HandleFunc("GET /pools/default/bs/{bucket}", n.authed(n.paused(n.bucketHandler(true, true))))
	mux.HandleFunc("GET /pools/default/bucketsStreaming/{bucket}", n.authed(n.paused(n.bucketHandler(false, true))))
	mux.HandleFunc("GET /pools/default/rebalanceProgress", n.authed(n.handleRebalanceProgress))
	mux.HandleFunc("POST /pools/default/buckets/{bucket}/controller/doFlush", n.authed(n.handleDoFlush))
	mux.HandleFunc("POST /controller/addNode", n.authed(n.handleAddNode))
	mux.HandleFunc("POST /controller/rebalance", n.authed(n.handleRebalance))
	mux.HandleFunc("POST /controller/stopRebalance", n.authed(n.handleStopRebalance))
	mux.HandleFunc("POST /controller/failOver", n.authed(n.handleFailOver))
	mux.HandleFunc("POST /sim/addNode", n.authed(n.handleAddNode))
	mux.HandleFunc("POST /sim/pause", n.authed(n.handlePause))
	mux.HandleFunc("POST /sim/resume", n.authed(n.handleResume))
	n.collectionRoutes(mux)
	n.switchRoutes(mux)
	return mux
}

// authed requires the cluster credentials (HTTP Basic).
func (n *Node) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || !n.c.auth.checkBasic(user, pass) {
			unauthorized(w)
			return
		}
		h(w, r)
	}
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Couchbase Server Admin / REST"`)
	w.WriteHeader(http.StatusUnauthorized)
}

// paused makes a handler wait while the node is paused.
func (n *Node) paused(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !n.waitRunning(r.Context().Done()) {
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeRaw(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// notFound is Couchbase's 404 body.
func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("Requested resource not found.\r\n"))
}

// handlePools answers GET /pools. Like Couchbase it answers without
// credentials, but refuses wrong ones.
func (n *Node) handlePools(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if ok && !n.c.auth.checkBasic(user, pass) {
		unauthorized(w)
		return
	}
	uuid := n.c.buckets[0].uuid
	writeJSON(w, http.StatusOK, map[string]any{
		"isAdminCreds":          ok,
		"isROAdminCreds":        false,
		"isEnterprise":          true,
		"implementationVersion": n.c.opts.Version,
		"componentsVersion":     map[string]string{"ns_server": n.c.opts.Version},
		"uuid":                  uuid,
		"pools": []map[string]string{{
			"name":         "default",
			"uri":          "/pools/default?uuid=" + uuid,
			"streamingUri": "/poolsStreaming/default?uuid=" + uuid,
		}},
	})
}

// handlePoolDefault answers GET /pools/default: the cluster's nodes.
func (n *Node) handlePoolDefault(w http.ResponseWriter, r *http.Request) {
	t := n.c.topo.Load()
	var nodes []jsonNode
	for _, x := range t.all() {
		membership := "active"
		if containsNode(t.added, x) {
			membership = "inactiveAdded"
		}
		status := "healthy"
		if x.Paused() {
			status = "unhealthy"
		}
		nodes = append(nodes, jsonNode{
			Hostname:          hostPort(x.host, x.mgmtPort),
			Ports:             map[string]int{"direct": x.kvPort},
			OTPNode:           x.otp,
			Status:            status,
			ClusterMembership: membership,
			Version:           n.c.opts.Version,
			Services:          []string{"kv"},
			ThisNode:          x == n,
		})
	}
	rebalance := "none"
	if t.rebalancing {
		rebalance = "running"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":                 "default",
		"clusterName":          "cbsim",
		"nodes":                nodes,
		"rebalanceStatus":      rebalance,
		"rebalanceProgressUri": "/pools/default/rebalanceProgress",
		"stopRebalanceUri":     "/controller/stopRebalance",
		"buckets":              map[string]string{"uri": "/pools/default/buckets?v=" + strconv.FormatInt(t.rev, 10)},
		"controllers": map[string]any{
			"addNode":   map[string]string{"uri": "/controller/addNode"},
			"rebalance": map[string]string{"uri": "/controller/rebalance"},
			"failOver":  map[string]string{"uri": "/controller/failOver"},
		},
	})
}

// handleBucketList answers GET /pools/default/buckets: every full config.
func (n *Node) handleBucketList(w http.ResponseWriter, r *http.Request) {
	t := n.c.topo.Load()
	list := make([]json.RawMessage, len(n.c.buckets))
	for b := range n.c.buckets {
		list[b] = n.c.bucketConfig(t, b, n, false)
	}
	writeJSON(w, http.StatusOK, list)
}

// bucketHandler answers the bucket config endpoints: full or terse, once
// or streaming.
func (n *Node) bucketHandler(terse, streaming bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b := n.c.bucketIndex(r.PathValue("bucket"))
		if b < 0 {
			notFound(w)
			return
		}
		if !streaming {
			writeRaw(w, n.c.bucketConfig(n.c.topo.Load(), b, n, terse))
			return
		}
		n.stream(w, r, b, terse)
	}
}

// stream writes the bucket's config, then a new one after every change,
// each followed by "\n\n\n\n", until the client leaves or the node stops.
func (n *Node) stream(w http.ResponseWriter, r *http.Request, b int, terse bool) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	last := int64(-1)
	for {
		if !n.waitRunning(ctx.Done()) {
			return
		}
		t, changed := n.c.watch()
		// A stalled stream (SetStreamsStalled) writes its first config only.
		if t.rev != last && (last < 0 || !n.c.streamsStalled.Load()) {
			last = t.rev
			if _, err := w.Write(append(n.c.bucketConfig(t, b, n, terse), streamSeparator...)); err != nil {
				return
			}
			flusher.Flush()
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-n.done:
			return
		}
	}
}

// handleDoFlush answers POST /pools/default/buckets/<b>/controller/doFlush.
func (n *Node) handleDoFlush(w http.ResponseWriter, r *http.Request) {
	b := n.c.bucketIndex(r.PathValue("bucket"))
	if b < 0 {
		notFound(w)
		return
	}
	if !n.c.opts.AllowFlush {
		writeJSON(w, http.StatusBadRequest, map[string]string{"_": "Flush is disabled for the bucket"})
		return
	}
	n.c.flushBucket(b)
	w.WriteHeader(http.StatusOK)
}

// flushBucket clears every copy of every vBucket of bucket b.
func (c *Cluster) flushBucket(b int) {
	for vb := range c.opts.VBuckets {
		v := &c.buckets[b].vbs[vb]
		v.mu.Lock()
		for _, n := range c.topo.Load().maps[b].chains[vb] {
			if n != nil && n.data[b][vb] != nil {
				n.data[b][vb] = newVBStore()
			}
		}
		v.mu.Unlock()
	}
}

// formValue reads a parameter from the query or the urlencoded body.
func formValue(r *http.Request, key string) string {
	if err := r.ParseForm(); err != nil {
		return ""
	}
	return r.Form.Get(key)
}
