package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// Collection limits, as in kv_engine (dockey_view.h, collections/manifest.h)
// and ns_server (menelaus_web_collections.erl).
const (
	// maxCollectionsKeyLen is the longest key field of a request once
	// collections are on: the LEB128 collection ID and the logical key.
	maxCollectionsKeyLen = 251
	// maxCollectionLogicalKeyLen is the longest logical key outside the
	// default collection (250 inside it, as without collections).
	maxCollectionLogicalKeyLen = 246
	// maxReservedCollectionID: IDs 1-7 are reserved and never valid on the
	// wire; 0 is the default collection, user collections start at 8.
	maxReservedCollectionID = 7
	// maxCollectionNameLen bounds scope and collection names.
	maxCollectionNameLen = 251
	defaultName          = "_default"
	systemScopeName      = "_system"
)

// manifest is one bucket's collections manifest. A published manifest is
// never modified: a change builds a new one (with the next uid).
type manifest struct {
	uid       uint64
	nextScope uint32 // ID of the next scope created
	nextColl  uint32 // ID of the next collection created
	scopes    []manifestScope
	byID      map[uint32]bool // every collection's ID
}

type manifestScope struct {
	name        string
	uid         uint32
	collections []manifestCollection
	system      bool // _system: its collections cannot be dropped, none created
}

type manifestCollection struct {
	name string
	uid  uint32
}

// initialManifest is a new bucket's manifest on Couchbase 7.6
// (ns_server collections:manifest_with_system_scope): uid 1, the _default
// scope and collection (ID 0) and the _system scope (ID 8) with _mobile (8)
// and _query (9); the next scope gets ID 9, the next collection ID 10.
func initialManifest() *manifest {
	return newManifest(1, 9, 10, []manifestScope{
		{name: defaultName, uid: 0, collections: []manifestCollection{{name: defaultName, uid: 0}}},
		{name: systemScopeName, uid: 8, system: true, collections: []manifestCollection{{name: "_query", uid: 9}, {name: "_mobile", uid: 8}}},
	})
}

func newManifest(uid uint64, nextScope, nextColl uint32, scopes []manifestScope) *manifest {
	m := &manifest{uid: uid, nextScope: nextScope, nextColl: nextColl, scopes: scopes, byID: make(map[uint32]bool)}
	for _, s := range scopes {
		for _, col := range s.collections {
			m.byID[col.uid] = true
		}
	}
	return m
}

// has reports whether collection cid exists.
func (m *manifest) has(cid uint32) bool { return m.byID[cid] }

func (m *manifest) scope(name string) (int, bool) {
	i := slices.IndexFunc(m.scopes, func(s manifestScope) bool { return s.name == name })
	return i, i >= 0
}

// collectionID returns the ID of scope.name.
func (m *manifest) collectionID(scope, name string) (uint32, bool) {
	si, ok := m.scope(scope)
	if !ok {
		return 0, false
	}
	for _, col := range m.scopes[si].collections {
		if col.name == name {
			return col.uid, true
		}
	}
	return 0, false
}

// ManifestError is a refused scope or collection change, with the HTTP
// status and the message ns_server answers. It wraps one of the sentinels
// ErrUnknownScope, ErrUnknownCollection, ErrExists, ErrBadName or
// ErrNotAllowed.
type ManifestError struct {
	Status int    // HTTP status: 400 or 404
	Field  string // "name" for a name that fails validation, "" otherwise
	Msg    string
	Err    error
}

func (e *ManifestError) Error() string { return "sim: " + e.Msg }
func (e *ManifestError) Unwrap() error { return e.Err }

func manifestErr(status int, sentinel error, format string, args ...any) *ManifestError {
	return &ManifestError{Status: status, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// validateName checks a new scope or collection name as ns_server does:
// 1-251 characters of A-Z a-z 0-9 _ - %, not starting with _ or %.
func validateName(name string) *ManifestError {
	bad := func(msg string) *ManifestError {
		return &ManifestError{Status: http.StatusBadRequest, Field: "name", Msg: msg, Err: ErrBadName}
	}
	if name == "" {
		return bad("The value must be supplied")
	}
	if len(name) > maxCollectionNameLen {
		return bad(fmt.Sprintf("Name length (%d) must be in the range from 1 to %d, inclusive", len(name), maxCollectionNameLen))
	}
	for i := 0; i < len(name); i++ {
		if !nameChar(name[i], false) {
			return bad("Can only contain characters A-Z, a-z, 0-9 and the following symbols _ - %")
		}
	}
	if name[0] == '_' || name[0] == '%' {
		return bad("First character must not be _ or %")
	}
	return nil
}

// nameChar reports whether c may appear in a name; kv_engine also allows
// '$' (dollar) when it looks names up.
func nameChar(c byte, dollar bool) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '%' || dollar && c == '$'
}

// withScope returns m with a new scope.
func (m *manifest) withScope(name string) (*manifest, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	if _, ok := m.scope(name); ok {
		return nil, manifestErr(http.StatusBadRequest, ErrExists, "Scope with name %q already exists", name)
	}
	scopes := append(slices.Clip(m.scopes), manifestScope{name: name, uid: m.nextScope})
	return newManifest(m.uid+1, m.nextScope+1, m.nextColl, scopes), nil
}

// withoutScope returns m without scope name and the IDs of the collections
// dropped with it.
func (m *manifest) withoutScope(name string) (*manifest, []uint32, error) {
	switch name {
	case defaultName:
		return nil, nil, manifestErr(http.StatusBadRequest, ErrNotAllowed, "Deleting _default scope is not allowed")
	case systemScopeName:
		return nil, nil, manifestErr(http.StatusBadRequest, ErrNotAllowed, "Deleting _system scope is not allowed")
	}
	si, ok := m.scope(name)
	if !ok {
		return nil, nil, manifestErr(http.StatusNotFound, ErrUnknownScope, "Scope with name %q is not found", name)
	}
	var dropped []uint32
	for _, col := range m.scopes[si].collections {
		dropped = append(dropped, col.uid)
	}
	scopes := slices.Delete(slices.Clone(m.scopes), si, si+1)
	return newManifest(m.uid+1, m.nextScope, m.nextColl, scopes), dropped, nil
}

// withCollection returns m with a new collection in scope.
func (m *manifest) withCollection(scope, name string) (*manifest, error) {
	si, ok := m.scope(scope)
	if !ok {
		return nil, manifestErr(http.StatusNotFound, ErrUnknownScope, "Scope with name %q is not found", scope)
	}
	if err := validateName(name); err != nil {
		return nil, err
	}
	s := m.scopes[si]
	if s.system {
		return nil, manifestErr(http.StatusBadRequest, ErrNotAllowed, "cannot create collection in '_system' scope")
	}
	if _, ok := m.collectionID(scope, name); ok {
		return nil, manifestErr(http.StatusBadRequest, ErrExists, "Collection with name %q in scope %q already exists", name, scope)
	}
	scopes := slices.Clone(m.scopes)
	s.collections = append(slices.Clip(s.collections), manifestCollection{name: name, uid: m.nextColl})
	scopes[si] = s
	return newManifest(m.uid+1, m.nextScope, m.nextColl+1, scopes), nil
}

// withoutCollection returns m without scope.name and its ID. The default
// collection may be dropped (and never recreated), system collections not.
func (m *manifest) withoutCollection(scope, name string) (*manifest, uint32, error) {
	si, ok := m.scope(scope)
	if !ok {
		return nil, 0, manifestErr(http.StatusNotFound, ErrUnknownScope, "Scope with name %q is not found", scope)
	}
	s := m.scopes[si]
	ci := slices.IndexFunc(s.collections, func(c manifestCollection) bool { return c.name == name })
	if ci < 0 {
		return nil, 0, manifestErr(http.StatusNotFound, ErrUnknownCollection, "Collection with name %q in scope %q is not found", name, scope)
	}
	if s.system {
		return nil, 0, manifestErr(http.StatusBadRequest, ErrNotAllowed, "Cannot drop system collection %q for scope %q", name, scope)
	}
	cid := s.collections[ci].uid
	scopes := slices.Clone(m.scopes)
	s.collections = slices.Delete(slices.Clone(s.collections), ci, ci+1)
	scopes[si] = s
	return newManifest(m.uid+1, m.nextScope, m.nextColl, scopes), cid, nil
}

// uidHex is a uid as Couchbase writes it in JSON: lower-case hex, no 0x.
func uidHex(v uint64) string { return strconv.FormatUint(v, 16) }

// json renders m as GET /pools/default/buckets/<b>/scopes answers on 7.6.
func (m *manifest) json() []byte {
	type jsonCollection struct {
		Name    string `json:"name"`
		UID     string `json:"uid"`
		MaxTTL  int    `json:"maxTTL"`
		History bool   `json:"history"`
	}
	type jsonScope struct {
		Name        string           `json:"name"`
		UID         string           `json:"uid"`
		Collections []jsonCollection `json:"collections"`
	}
	out := struct {
		UID    string      `json:"uid"`
		Scopes []jsonScope `json:"scopes"`
	}{UID: uidHex(m.uid), Scopes: []jsonScope{}}
	for _, s := range m.scopes {
		js := jsonScope{Name: s.name, UID: uidHex(uint64(s.uid)), Collections: []jsonCollection{}}
		for _, col := range s.collections {
			js.Collections = append(js.Collections, jsonCollection{Name: col.name, UID: uidHex(uint64(col.uid))})
		}
		out.Scopes = append(out.Scopes, js)
	}
	b, err := json.Marshal(&out)
	if err != nil {
		panic("sim: marshal manifest: " + err.Error())
	}
	return b
}
