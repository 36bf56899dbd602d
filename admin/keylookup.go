package admin

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"

	"github.com/vbproxy/vbproxy/memcached"
)

// ProbeResult is what a probe of one key found on its active node (mirrors
// proxy.ProbeResult; cmd/vbproxy converts). Only metadata: never the value.
type ProbeResult struct {
	VBucket uint16
	Node    string // the node asked
	Exists  bool
	CAS     uint64
	Flags   uint32
	Size    int // value bytes
}

// KeyInfo is the JSON of GET /api/key: where a key lives.
type KeyInfo struct {
	Bucket   string     `json:"bucket"`
	Key      string     `json:"key,omitempty"`     // as given with ?key=
	KeyB64   string     `json:"key_b64,omitempty"` // as given with ?key_b64=
	Revision string     `json:"revision"`
	VBucket  int        `json:"vbucket"`
	Active   *KeyNode   `json:"active"` // null when the vBucket has no active node
	Replicas []KeyNode  `json:"replicas"`
	Forward  *KeyNode   `json:"forward,omitempty"` // the owner after the move in progress
	Probe    *ProbeInfo `json:"probe,omitempty"`   // with ?probe=1
}

// KeyNode is a node in a KeyInfo.
type KeyNode struct {
	Index   int    `json:"index"` // in the map's node list (Grid.Nodes)
	Address string `json:"address"`
	Colour  int    `json:"colour"`
}

// ProbeInfo is the answer of a probe (?probe=1).
type ProbeInfo struct {
	Node    string `json:"node,omitempty"`
	VBucket int    `json:"vbucket"`
	Exists  bool   `json:"exists"`
	CAS     string `json:"cas,omitempty"` // decimal: a uint64 does not fit a JSON number exactly
	Flags   uint32 `json:"flags"`
	Size    int    `json:"size"` // value bytes; the value itself is never shown
	Error   string `json:"error,omitempty"`
}

// apiKey serves GET /api/key?key=K (or key_b64=B) [&bucket=NAME]
// [&probe=1]: the key's vBucket and nodes from the current map, and with
// probe=1 (guarded by the admin token) whether the key exists on its
// active node, read through the proxy's own connections. 400 names the bad
// parameter; 502 means the probe failed (the body still says where the key
// lives, and probe.error why).
func (s *Server) apiKey(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	b, err := s.bucket(r)
	if err != nil {
		writeJSON(w, http.StatusNotFound, errorBody{Error: err.Error()})
		return
	}
	info := KeyInfo{Bucket: b.Name, Key: q.Get("key"), KeyB64: q.Get("key_b64"), Replicas: []KeyNode{}}
	key, field, err := keyParam(info.Key, info.KeyB64, q.Has("key"), q.Has("key_b64"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, fieldError{Field: field, Error: err.Error()})
		return
	}
	probe := truthy(q.Get("probe"))
	if probe && s.refuse(w, r) {
		return
	}
	m := b.Map.Current()
	if m == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Bucket: b.Name, Error: "no vBucket map loaded yet"})
		return
	}
	st := s.state(b.Name)
	e := st.entry(m)
	node := func(i int) *KeyNode {
		if i < 0 {
			return nil
		}
		return &KeyNode{Index: i, Address: m.Nodes()[i].Addr, Colour: e.colours[i]}
	}
	vb, active := m.Route(key)
	info.Revision, info.VBucket, info.Active = m.Revision().String(), int(vb), node(active)
	for _, rep := range m.Replicas(vb) {
		info.Replicas = append(info.Replicas, *node(rep))
	}
	if f := m.Forward(vb); f >= 0 && f != active {
		info.Forward = node(f)
	}
	code := http.StatusOK
	if probe {
		info.Probe, code = s.probe(r.Context(), b, key)
	}
	writeJSON(w, code, info)
}

func (s *Server) probe(ctx context.Context, b *Bucket, key []byte) (*ProbeInfo, int) {
	if b.Probe == nil {
		return &ProbeInfo{Error: "probing is not supported for this bucket"}, http.StatusNotImplemented
	}
	ctx, cancel := context.WithTimeout(ctx, s.probeTimeout)
	defer cancel()
	res, err := b.Probe(ctx, key)
	p := &ProbeInfo{Node: res.Node, VBucket: int(res.VBucket), Exists: res.Exists, Flags: res.Flags, Size: res.Size}
	if res.Exists {
		p.CAS = strconv.FormatUint(res.CAS, 10)
	}
	if err != nil {
		p.Error = err.Error()
		return p, http.StatusBadGateway
	}
	return p, http.StatusOK
}

// keyParam decodes the key from ?key= or ?key_b64= (standard or URL-safe
// base64, padded or not) and checks memcached's limits.
func keyParam(plain, b64 string, hasPlain, hasB64 bool) (key []byte, field string, err error) {
	switch {
	case hasPlain && hasB64:
		return nil, "key", fmt.Errorf("give key or key_b64, not both")
	case hasB64:
		key, err = decodeBase64(b64)
		if err != nil {
			return nil, "key_b64", err
		}
		field = "key_b64"
	default:
		key, field = []byte(plain), "key"
	}
	switch {
	case len(key) == 0:
		return nil, field, fmt.Errorf("required: the key to look up (key_b64 for a binary key)")
	case len(key) > memcached.MaxKeyLen:
		return nil, field, fmt.Errorf("%d bytes: memcached keys have at most %d", len(key), memcached.MaxKeyLen)
	}
	return key, field, nil
}

func decodeBase64(s string) ([]byte, error) {
	var first error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, fmt.Errorf("not base64: %v", first)
}

// fieldError is a 400 answer naming the bad parameter or config field.
type fieldError struct {
	Field string `json:"field"`
	Error string `json:"error"`
}
