package sim

import (
	"encoding/binary"
	"encoding/json"
	"strconv"

	"github.com/vbproxy/vbproxy/memcached"
)

// sasl answers SASL_AUTH and SASL_STEP.
func (kc *kvConn) sasl(p *memcached.Packet) {
	h := &p.Header
	mech := string(p.Key)
	if h.Opcode == memcached.OpSASLAuth {
		kc.saslConv = nil
		kc.saslMech = ""
		kc.authed = false
		if kc.c.opts.NoAuth {
			kc.authed = true
		} else {
			kc.bucket = -1
		}
		switch {
		case mech == "PLAIN":
			if !kc.c.auth.plain(p.Value) {
				kc.authFailed(h)
				return
			}
			kc.authed = true
			kc.respond(h, memcached.StatusSuccess, 0, nil, nil, []byte("Authenticated"))
			return
		case kc.c.auth.scram[mech] != nil:
			conv := kc.c.auth.scram[mech].NewConversation()
			resp, err := conv.Step(string(p.Value))
			if err != nil {
				kc.authFailed(h)
				return
			}
			kc.saslConv, kc.saslMech = conv, mech
			kc.respond(h, memcached.StatusAuthContinue, 0, nil, nil, []byte(resp))
			return
		default:
			kc.reply(h, memcached.StatusAuthError, "Unknown SASL mechanism "+strconv.Quote(mech))
			return
		}
	}
	if kc.saslConv == nil || mech != kc.saslMech {
		kc.reply(h, memcached.StatusEINVAL, "SASL_STEP without a matching SASL_AUTH")
		return
	}
	conv := kc.saslConv
	kc.saslConv, kc.saslMech = nil, ""
	resp, err := conv.Step(string(p.Value))
	if err != nil || !conv.Done() || !conv.Valid() {
		kc.authFailed(h)
		return
	}
	kc.authed = true
	kc.respond(h, memcached.StatusSuccess, 0, nil, nil, []byte(resp))
}

func (kc *kvConn) authFailed(h *memcached.Header) {
	kc.reply(h, memcached.StatusAuthError, "Auth failure")
}

// selectBucket answers SELECT_BUCKET: EACCESS before authentication,
// KEY_ENOENT for an unknown bucket.
func (kc *kvConn) selectBucket(p *memcached.Packet) {
	h := &p.Header
	if len(p.Extras) != 0 || len(p.Key) == 0 || len(p.Value) != 0 {
		kc.reply(h, memcached.StatusEINVAL, "SELECT_BUCKET takes the bucket name as key")
		return
	}
	if !kc.authed {
		kc.reply(h, memcached.StatusEAccess, "No access")
		return
	}
	b := kc.c.bucketIndex(string(p.Key))
	if b < 0 {
		kc.reply(h, memcached.StatusKeyENOENT, "")
		return
	}
	kc.bucket = b
	kc.known = clusterVersion{} // as kv_engine: the new bucket's configs are all news
	kc.respond(h, memcached.StatusSuccess, 0, nil, nil, nil)
}

// errorMapJSON is the GET_ERROR_MAP answer (version 1): the statuses the
// simulator sends and their attributes.
var errorMapJSON = func() []byte {
	type entry struct {
		Name  string   `json:"name"`
		Desc  string   `json:"desc"`
		Attrs []string `json:"attrs"`
	}
	errs := map[string]entry{}
	add := func(s memcached.Status, desc string, attrs ...string) {
		errs[strconv.FormatUint(uint64(s), 16)] = entry{Name: s.String(), Desc: desc, Attrs: attrs}
	}
	add(memcached.StatusSuccess, "Success", "success")
	add(memcached.StatusKeyENOENT, "Not Found", "item-only")
	add(memcached.StatusKeyEEXISTS, "key already exists, or CAS mismatch", "item-only")
	add(memcached.StatusE2BIG, "Value is too big", "invalid-input")
	add(memcached.StatusEINVAL, "Invalid packet", "internal", "invalid-input")
	add(memcached.StatusNotStored, "Not stored", "item-only")
	add(memcached.StatusDeltaBadval, "Existing document not a number", "item-only", "invalid-input")
	add(memcached.StatusNotMyVBucket, "Server does not know about this vBucket", "fetch-config", "invalid-input")
	add(memcached.StatusNoBucket, "Not connected to a bucket", "conn-state-invalidated")
	add(memcached.StatusAuthError, "Authentication failed", "auth", "conn-state-invalidated")
	add(memcached.StatusAuthContinue, "Continue authentication", "special-handling", "support")
	add(memcached.StatusEAccess, "No access", "conn-state-invalidated", "support")
	add(memcached.StatusUnknownCommand, "Unknown command", "support")
	add(memcached.StatusNotSupported, "Operation not supported", "support")
	add(memcached.StatusEINTERNAL, "Internal error", "internal")
	add(memcached.StatusETMPFAIL, "Temporary failure", "temp", "retry-later")
	b, err := json.Marshal(map[string]any{"version": 1, "revision": 1, "errors": errs})
	if err != nil {
		panic("sim: error map: " + err.Error())
	}
	return b
}()

// errorMap answers GET_ERROR_MAP (value: the u16 version wanted).
func (kc *kvConn) errorMap(p *memcached.Packet) {
	h := &p.Header
	if len(p.Extras) != 0 || len(p.Key) != 0 || len(p.Value) != 2 {
		kc.reply(h, memcached.StatusEINVAL, "GET_ERROR_MAP takes a 2-byte version")
		return
	}
	if binary.BigEndian.Uint16(p.Value) < 1 {
		kc.reply(h, memcached.StatusEINVAL, "Error map version must be at least 1")
		return
	}
	kc.respond(h, memcached.StatusSuccess, 0, nil, nil, errorMapJSON)
}
