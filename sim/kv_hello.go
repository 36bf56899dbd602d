package sim

import (
	"encoding/binary"
	"slices"

	"github.com/vbproxy/vbproxy/memcached"
)

// HELLO feature codes (kv_engine include/mcbp/protocol/feature.h) the
// simulator knows. It enables those it implements and declines the others,
// as a node declines features it does not support.
const (
	featureTCPNoDelay           uint16 = 0x03
	featureXError               uint16 = 0x07
	featureSelectBucket         uint16 = 0x08
	featureDuplex               uint16 = 0x0c
	featureClustermapNotif      uint16 = 0x0d
	featureCollections          uint16 = 0x12
	featureKnownVersion         uint16 = 0x1d
	featureDedupeNMVB           uint16 = 0x1e
	featureClustermapNotifBrief uint16 = 0x1f
)

// notifyMode is how a connection wants clustermap changes pushed.
type notifyMode uint8

const (
	notifyNone  notifyMode = iota
	notifyFull             // ClustermapChangeNotification: the config in the value
	notifyBrief            // ClustermapChangeNotificationBrief: epoch and revision only
)

// features are what a connection's last HELLO enabled.
type features struct {
	xerror      bool
	duplex      bool
	collections bool
	dedupeNMVB  bool
	notify      notifyMode
}

// hello answers HELLO as kv_engine does (hello_packet_executor.cc): the
// value lists the requested features (u16 each); duplicates and unknown
// codes are ignored; asking for a clustermap notification without Duplex
// fails with EINVAL and changes nothing; otherwise every feature is first
// reset, then those the node supports are enabled, and the reply lists them
// in ascending order. When both notification modes are asked for only the
// brief one is enabled. Notifications are enabled only while the cluster's
// push setting is on, Collections only when collections are enabled.
func (kc *kvConn) hello(p *memcached.Packet) {
	h := &p.Header
	if len(p.Extras) != 0 || h.CAS != 0 {
		kc.reply(h, memcached.StatusEINVAL, "Request must not include extras or CAS")
		return
	}
	if len(p.Value)%2 != 0 {
		kc.reply(h, memcached.StatusEINVAL, "Request value must be of even length")
		return
	}
	var buf [16]uint16
	requested := buf[:0]
	for i := 0; i+1 < len(p.Value); i += 2 {
		f := binary.BigEndian.Uint16(p.Value[i:])
		if !slices.Contains(requested, f) {
			requested = append(requested, f)
		}
	}
	has := func(f uint16) bool { return slices.Contains(requested, f) }
	if (has(featureClustermapNotif) || has(featureClustermapNotifBrief)) && !has(featureDuplex) {
		kc.reply(h, memcached.StatusEINVAL, "ClustermapChangeNotification needs Duplex")
		return
	}
	slices.Sort(requested)
	var f features
	var accepted [16]byte
	out := accepted[:0]
	for _, code := range requested {
		ok := true
		switch code {
		case featureTCPNoDelay, featureSelectBucket, featureKnownVersion:
			// Informative: nothing to switch.
		case featureXError:
			f.xerror = true
		case featureDuplex:
			f.duplex = true
		case featureDedupeNMVB:
			f.dedupeNMVB = true
		case featureCollections:
			ok = !kc.c.opts.NoCollections
			f.collections = ok
		case featureClustermapNotif:
			ok = kc.c.pushEnabled.Load() && !has(featureClustermapNotifBrief)
			if ok {
				f.notify = notifyFull
			}
		case featureClustermapNotifBrief:
			ok = kc.c.pushEnabled.Load()
			if ok {
				f.notify = notifyBrief
			}
		default:
			ok = false
		}
		if ok {
			out = binary.BigEndian.AppendUint16(out, code)
		}
	}
	kc.features = f
	if f.notify != notifyNone {
		kc.startPusher()
	}
	kc.respond(h, memcached.StatusSuccess, 0, nil, nil, out)
}
