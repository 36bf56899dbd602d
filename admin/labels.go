package admin

import (
	"github.com/vbproxy/vbproxy/memcached"
)

// Label values are bounded: every opcode, status, error kind, map origin and
// connection state outside the fixed sets below collapses to "other".
const labelOther = "other"

// opcodeIndex maps each of the 256 opcodes to a dense index; unknown opcodes
// share the last one ("other").
type opcodeIndex struct {
	idx   [256]uint8
	names []string
}

func newOpcodeIndex() *opcodeIndex {
	x := &opcodeIndex{}
	for i := range 256 {
		op := memcached.Opcode(i)
		if !op.Known() {
			continue
		}
		x.idx[i] = uint8(len(x.names))
		x.names = append(x.names, op.String())
	}
	other := uint8(len(x.names))
	x.names = append(x.names, labelOther)
	for i := range 256 {
		if !memcached.Opcode(i).Known() {
			x.idx[i] = other
		}
	}
	return x
}

func (x *opcodeIndex) of(op memcached.Opcode) int { return int(x.idx[op]) }

// statusIndex does the same for statuses: known codes are all below 0x100.
type statusIndex struct {
	idx   [256]uint8
	other uint8
	names []string
}

func newStatusIndex() *statusIndex {
	x := &statusIndex{}
	known := make([]bool, 256)
	for i := range 256 {
		s := memcached.Status(i)
		if !s.Known() {
			continue
		}
		known[i] = true
		x.idx[i] = uint8(len(x.names))
		x.names = append(x.names, s.String())
	}
	x.other = uint8(len(x.names))
	x.names = append(x.names, labelOther)
	for i := range 256 {
		if !known[i] {
			x.idx[i] = x.other
		}
	}
	return x
}

func (x *statusIndex) of(s memcached.Status) int {
	if s > 0xff {
		return int(x.other)
	}
	return int(x.idx[s])
}

// Protocol is the client protocol of a request (the protocol label): the
// proxy's "binary", "text" (classic text commands) and "meta" (meta
// commands); ParseProtocol maps anything else to ProtocolOther.
type Protocol uint8

// Client protocols.
const (
	ProtocolBinary Protocol = iota
	ProtocolText
	ProtocolMeta
	ProtocolOther
	numProtocols
)

var protocolNames = [numProtocols]string{"binary", "text", "meta", labelOther}

// ParseProtocol returns the Protocol of a proxy protocol name, without
// allocating.
func ParseProtocol(name string) Protocol {
	switch name {
	case "binary":
		return ProtocolBinary
	case "text":
		return ProtocolText
	case "meta":
		return ProtocolMeta
	}
	return ProtocolOther
}

// String returns the label value.
func (p Protocol) String() string {
	if p < numProtocols {
		return protocolNames[p]
	}
	return labelOther
}

// Upstream error kinds reported by the proxy (proxy.Observer.UpstreamError).
var errorKinds = [...]string{"timeout", "io", "queue_full", "down", "auth", labelOther}

func errorKindIndex(kind string) int {
	for i, k := range errorKinds[:len(errorKinds)-1] {
		if k == kind {
			return i
		}
	}
	return len(errorKinds) - 1
}

// Map origins (vbmap.Origin*): where an applied map came from.
var mapOrigins = [...]string{"static", "fetch", "stream", "poll", "nmvb", "reload", "cccp", "push", labelOther}

func originLabel(origin string) string {
	for _, o := range mapOrigins[:len(mapOrigins)-1] {
		if o == origin {
			return o
		}
	}
	return labelOther
}

// ConnEvent is a client connection event (mirrors proxy.ConnEvent; cmd
// adapts one to the other).
type ConnEvent uint8

// Client connection events.
const (
	ConnAccepted ConnEvent = iota // a client connection was accepted
	ConnClosed                    // an accepted client connection was closed
	ConnRefused                   // a client connection was refused (limit reached, shutting down)
)

// UpstreamState is an upstream connection state (mirrors
// proxy.UpstreamState).
type UpstreamState uint8

// Upstream connection states.
const (
	UpstreamConnecting UpstreamState = iota
	UpstreamUp
	UpstreamDown
	numUpstreamStates
)

var upstreamStateNames = [numUpstreamStates]string{"connecting", "up", "down"}

// String returns "connecting", "up" or "down".
func (s UpstreamState) String() string {
	if s < numUpstreamStates {
		return upstreamStateNames[s]
	}
	return labelOther
}
