package sim

import (
	"errors"
	"net/http"
	"slices"
)

// The scopes and collections REST API, as ns_server serves it
// (menelaus_web_collections.erl):
//
//	GET    /pools/default/buckets/<b>/scopes                          the manifest
//	POST   /pools/default/buckets/<b>/scopes                          name=<scope>
//	DELETE /pools/default/buckets/<b>/scopes/<scope>
//	POST   /pools/default/buckets/<b>/scopes/<scope>/collections      name=<collection> [maxTTL=0] [history=false]
//	DELETE /pools/default/buckets/<b>/scopes/<scope>/collections/<collection>
//
// A change answers 200 {"uid":"<new manifest uid, hex>"}. A name that fails
// validation or an unknown parameter answers 400 {"errors":{"<param>":"<why>"}};
// other refusals {"errors":{"_":"<why>"}} with 400 (exists, not allowed) or
// 404 (no such scope or collection). An unknown bucket, or a cluster started
// with Options.NoCollections, answers 404 as a pre-7.0 cluster manager does.

// collectionRoutes registers the API on mux.
func (n *Node) collectionRoutes(mux *http.ServeMux) {
	const base = "/pools/default/buckets/{bucket}/scopes"
	mux.HandleFunc("GET "+base, n.authed(n.paused(n.handleGetScopes)))
	mux.HandleFunc("GET "+base+"/{$}", n.authed(n.paused(n.handleGetScopes)))
	mux.HandleFunc("POST "+base, n.authed(n.handleCreateScope))
	mux.HandleFunc("DELETE "+base+"/{scope}", n.authed(n.handleDropScope))
	mux.HandleFunc("POST "+base+"/{scope}/collections", n.authed(n.handleCreateCollection))
	mux.HandleFunc("DELETE "+base+"/{scope}/collections/{collection}", n.authed(n.handleDropCollection))
}

// collectionsBucket returns the bucket named in the path, answering 404 when
// there is none or collections are off.
func (n *Node) collectionsBucket(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("bucket")
	if n.c.bucketIndex(name) < 0 || n.c.opts.NoCollections {
		notFound(w)
		return "", false
	}
	return name, true
}

func (n *Node) handleGetScopes(w http.ResponseWriter, r *http.Request) {
	if b, ok := n.collectionsBucket(w, r); ok {
		writeRaw(w, n.c.ManifestJSON(b))
	}
}

func (n *Node) handleCreateScope(w http.ResponseWriter, r *http.Request) {
	b, ok := n.collectionsBucket(w, r)
	if !ok || !checkParams(w, r) {
		return
	}
	uid, err := n.c.CreateScope(b, r.Form.Get("name"))
	replyManifestChange(w, uid, err)
}

func (n *Node) handleDropScope(w http.ResponseWriter, r *http.Request) {
	if b, ok := n.collectionsBucket(w, r); ok {
		uid, err := n.c.DropScope(b, r.PathValue("scope"))
		replyManifestChange(w, uid, err)
	}
}

func (n *Node) handleCreateCollection(w http.ResponseWriter, r *http.Request) {
	b, ok := n.collectionsBucket(w, r)
	if !ok || !checkParams(w, r, "maxTTL", "history") {
		return
	}
	if ttl := r.Form.Get("maxTTL"); ttl != "" && ttl != "0" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{
			"maxTTL": "The simulator supports only maxTTL=0 (the bucket's)"}})
		return
	}
	if r.Form.Get("history") == "true" {
		// ns_server: history is for Magma buckets; the simulator's are
		// Couchstore.
		http.Error(w, "Not allowed on this type of bucket", http.StatusBadRequest)
		return
	}
	uid, err := n.c.CreateCollection(b, r.PathValue("scope"), r.Form.Get("name"))
	replyManifestChange(w, uid, err)
}

func (n *Node) handleDropCollection(w http.ResponseWriter, r *http.Request) {
	if b, ok := n.collectionsBucket(w, r); ok {
		uid, err := n.c.DropCollection(b, r.PathValue("scope"), r.PathValue("collection"))
		replyManifestChange(w, uid, err)
	}
}

// checkParams parses the form and refuses parameters other than name and
// extra, as ns_server's validators do ("Unsupported key").
func checkParams(w http.ResponseWriter, r *http.Request, extra ...string) bool {
	if err := r.ParseForm(); err != nil {
		restError(w, "Invalid form: %v", err)
		return false
	}
	bad := map[string]string{}
	for k := range r.PostForm {
		if k != "name" && !slices.Contains(extra, k) {
			bad[k] = "Unsupported key"
		}
	}
	if len(bad) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": bad})
		return false
	}
	return true
}

// replyManifestChange answers a scope or collection change.
func replyManifestChange(w http.ResponseWriter, uid uint64, err error) {
	var me *ManifestError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]string{"uid": uidHex(uid)})
	case errors.As(err, &me) && me.Field != "":
		writeJSON(w, me.Status, map[string]any{"errors": map[string]string{me.Field: me.Msg}})
	case errors.As(err, &me):
		writeJSON(w, me.Status, map[string]any{"errors": map[string]string{"_": me.Msg}})
	default:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"errors": map[string]string{"_": err.Error()}})
	}
}
