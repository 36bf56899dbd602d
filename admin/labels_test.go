package admin

import (
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

func TestOpcodeLabels(t *testing.T) {
	x := newOpcodeIndex()
	tests := []struct {
		op   memcached.Opcode
		want string
	}{
		{memcached.OpGet, "GET"},
		{memcached.OpGetKQ, "GETKQ"},
		{memcached.OpSetQ, "SETQ"},
		{memcached.OpGetReplica, "GET_REPLICA"},
		{0x60, "other"},
		{0xff, "other"},
	}
	for _, tt := range tests {
		if got := x.names[x.of(tt.op)]; got != tt.want {
			t.Errorf("opcode 0x%02x: got label %q, want %q", uint8(tt.op), got, tt.want)
		}
	}
}

func TestStatusLabels(t *testing.T) {
	x := newStatusIndex()
	tests := []struct {
		s    memcached.Status
		want string
	}{
		{memcached.StatusSuccess, "SUCCESS"},
		{memcached.StatusKeyENOENT, "KEY_ENOENT"},
		{memcached.StatusNotMyVBucket, "NOT_MY_VBUCKET"},
		{memcached.StatusETMPFAIL, "ETMPFAIL"},
		{0x7f, "other"},
		{0xff00, "other"},
		{0xffff, "other"},
	}
	for _, tt := range tests {
		if got := x.names[x.of(tt.s)]; got != tt.want {
			t.Errorf("status 0x%04x: got label %q, want %q", uint16(tt.s), got, tt.want)
		}
	}
}

func TestBoundedLabels(t *testing.T) {
	tests := []struct{ in, want string }{
		{"timeout", "timeout"}, {"queue_full", "queue_full"}, {"auth", "auth"}, {"weird", "other"}, {"", "other"},
	}
	for _, tt := range tests {
		if got := errorKinds[errorKindIndex(tt.in)]; got != tt.want {
			t.Errorf("error kind %q: got %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{{"stream", "stream"}, {"nmvb", "nmvb"}, {"reload", "reload"}, {"cccp", "cccp"}, {"push", "push"}, {"", "other"}, {"x", "other"}} {
		if got := originLabel(tt.in); got != tt.want {
			t.Errorf("origin %q: got %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := UpstreamState(9).String(); got != "other" {
		t.Errorf("UpstreamState(9): got %q, want other", got)
	}
}
