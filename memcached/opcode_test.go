package memcached

import "testing"

func TestOpcodeTable(t *testing.T) {
	tests := []struct {
		op     Opcode
		code   byte
		name   string
		hasKey bool
		quiet  bool
		route  Route
	}{
		{OpGet, 0x00, "GET", true, false, RouteKey},
		{OpGetQ, 0x09, "GETQ", true, true, RouteKey},
		{OpGetK, 0x0c, "GETK", true, false, RouteKey},
		{OpGetKQ, 0x0d, "GETKQ", true, true, RouteKey},
		{OpSet, 0x01, "SET", true, false, RouteKey},
		{OpSetQ, 0x11, "SETQ", true, true, RouteKey},
		{OpAdd, 0x02, "ADD", true, false, RouteKey},
		{OpAddQ, 0x12, "ADDQ", true, true, RouteKey},
		{OpReplace, 0x03, "REPLACE", true, false, RouteKey},
		{OpReplaceQ, 0x13, "REPLACEQ", true, true, RouteKey},
		{OpDelete, 0x04, "DELETE", true, false, RouteKey},
		{OpDeleteQ, 0x14, "DELETEQ", true, true, RouteKey},
		{OpIncrement, 0x05, "INCREMENT", true, false, RouteKey},
		{OpIncrementQ, 0x15, "INCREMENTQ", true, true, RouteKey},
		{OpDecrement, 0x06, "DECREMENT", true, false, RouteKey},
		{OpDecrementQ, 0x16, "DECREMENTQ", true, true, RouteKey},
		{OpAppend, 0x0e, "APPEND", true, false, RouteKey},
		{OpAppendQ, 0x19, "APPENDQ", true, true, RouteKey},
		{OpPrepend, 0x0f, "PREPEND", true, false, RouteKey},
		{OpPrependQ, 0x1a, "PREPENDQ", true, true, RouteKey},
		{OpTouch, 0x1c, "TOUCH", true, false, RouteKey},
		{OpGAT, 0x1d, "GAT", true, false, RouteKey},
		{OpGATQ, 0x1e, "GATQ", true, true, RouteKey},
		{OpGATK, 0x23, "GATK", true, false, RouteNever},
		{OpGATKQ, 0x24, "GATKQ", true, true, RouteNever},
		{OpQuit, 0x07, "QUIT", false, false, RouteLocal},
		{OpQuitQ, 0x17, "QUITQ", false, true, RouteLocal},
		{OpFlush, 0x08, "FLUSH", false, false, RouteBroadcast},
		{OpFlushQ, 0x18, "FLUSHQ", false, true, RouteBroadcast},
		{OpNoop, 0x0a, "NOOP", false, false, RouteLocal},
		{OpVersion, 0x0b, "VERSION", false, false, RouteLocal},
		{OpStat, 0x10, "STAT", false, false, RouteLocal},
		{OpVerbosity, 0x1b, "VERBOSITY", false, false, RouteLocal},
		{OpHello, 0x1f, "HELLO", false, false, RouteLocal},
		{OpSASLList, 0x20, "SASL_LIST_MECHS", false, false, RouteAuth},
		{OpSASLAuth, 0x21, "SASL_AUTH", false, false, RouteAuth},
		{OpSASLStep, 0x22, "SASL_STEP", false, false, RouteAuth},
		{OpGetReplica, 0x83, "GET_REPLICA", true, false, RouteReplica},
		{OpSelectBucket, 0x89, "SELECT_BUCKET", false, false, RouteLocal},
		{OpGetClusterConfig, 0xb5, "GET_CLUSTER_CONFIG", false, false, RouteNever},
		{OpGetErrorMap, 0xfe, "GET_ERROR_MAP", false, false, RouteNever},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if byte(tt.op) != tt.code {
				t.Fatalf("%s = 0x%02x, want 0x%02x", tt.name, byte(tt.op), tt.code)
			}
			info := tt.op.Info()
			if info.Name != tt.name || tt.op.String() != tt.name {
				t.Errorf("name = %q / String %q, want %q", info.Name, tt.op.String(), tt.name)
			}
			if info.HasKey != tt.hasKey {
				t.Errorf("HasKey = %v, want %v", info.HasKey, tt.hasKey)
			}
			if tt.op.Quiet() != tt.quiet {
				t.Errorf("Quiet = %v, want %v", tt.op.Quiet(), tt.quiet)
			}
			if info.Route != tt.route {
				t.Errorf("Route = %v, want %v", info.Route, tt.route)
			}
			if !tt.op.Known() {
				t.Errorf("Known = false")
			}
		})
	}
}

func TestQuietTwins(t *testing.T) {
	pairs := []struct{ loud, quiet Opcode }{
		{OpGet, OpGetQ}, {OpGetK, OpGetKQ}, {OpSet, OpSetQ}, {OpAdd, OpAddQ},
		{OpReplace, OpReplaceQ}, {OpDelete, OpDeleteQ}, {OpIncrement, OpIncrementQ},
		{OpDecrement, OpDecrementQ}, {OpAppend, OpAppendQ}, {OpPrepend, OpPrependQ},
		{OpGAT, OpGATQ}, {OpGATK, OpGATKQ}, {OpQuit, OpQuitQ}, {OpFlush, OpFlushQ},
	}
	for _, p := range pairs {
		if got := p.quiet.Loud(); got != p.loud {
			t.Errorf("%s.Loud() = %s, want %s", p.quiet, got, p.loud)
		}
		if got := p.loud.QuietVersion(); got != p.quiet {
			t.Errorf("%s.QuietVersion() = %s, want %s", p.loud, got, p.quiet)
		}
		if got := p.loud.Loud(); got != p.loud {
			t.Errorf("%s.Loud() = %s, want itself", p.loud, got)
		}
		if got := p.quiet.QuietVersion(); got != p.quiet {
			t.Errorf("%s.QuietVersion() = %s, want itself", p.quiet, got)
		}
	}
	for _, op := range []Opcode{OpNoop, OpVersion, OpTouch, OpStat, Opcode(0x77)} {
		if op.Loud() != op || op.QuietVersion() != op {
			t.Errorf("%s has no twin but Loud=%s QuietVersion=%s", op, op.Loud(), op.QuietVersion())
		}
	}
}

func TestSuppress(t *testing.T) {
	tests := []struct {
		op     Opcode
		status Status
		want   bool
	}{
		{OpGetQ, StatusKeyENOENT, true},
		{OpGetQ, StatusSuccess, false},
		{OpGetKQ, StatusKeyENOENT, true},
		{OpGetKQ, StatusSuccess, false},
		{OpGATQ, StatusKeyENOENT, true},
		{OpGATQ, StatusSuccess, false},
		{OpGetQ, StatusNotMyVBucket, false},
		{OpGetQ, StatusETMPFAIL, false},
		{OpSetQ, StatusSuccess, true},
		{OpSetQ, StatusKeyEEXISTS, false},
		{OpSetQ, StatusNotMyVBucket, false},
		{OpAddQ, StatusKeyEEXISTS, false},
		{OpDeleteQ, StatusSuccess, true},
		{OpDeleteQ, StatusKeyENOENT, false},
		{OpIncrementQ, StatusSuccess, true},
		{OpIncrementQ, StatusDeltaBadval, false},
		{OpAppendQ, StatusNotStored, false},
		{OpFlushQ, StatusSuccess, true},
		{OpQuitQ, StatusSuccess, true},
		{OpGet, StatusKeyENOENT, false},
		{OpSet, StatusSuccess, false},
	}
	for _, tt := range tests {
		if got := tt.op.Suppress(tt.status); got != tt.want {
			t.Errorf("%s.Suppress(%s) = %v, want %v", tt.op, tt.status, got, tt.want)
		}
	}
}

func TestUnknownOpcodes(t *testing.T) {
	known := 0
	for i := 0; i < 256; i++ {
		op := Opcode(i)
		info := op.Info()
		if !op.Known() {
			if info.Route != RouteUnknown {
				t.Errorf("unknown %s has route %v", op, info.Route)
			}
			if op.String() == "" {
				t.Errorf("opcode 0x%02x has an empty String()", i)
			}
			continue
		}
		known++
		// Every quiet op's twin is loud and points back.
		if info.Quiet {
			twin := info.Twin.Info()
			if twin.Quiet || twin.Twin != op {
				t.Errorf("%s: twin %s is not its loud partner", op, info.Twin)
			}
		}
	}
	if known < 41 {
		t.Fatalf("table has %d known opcodes, want at least the 41 of PROTOCOL.md", known)
	}
	if got := Opcode(0x3e).String(); got != "GET_VBUCKET" {
		t.Errorf("0x3e = %q", got)
	}
	if got := Opcode(0xc7).String(); got != "0xc7" {
		t.Errorf("unknown 0xc7 = %q, want 0xc7", got)
	}
}

func TestStatusNames(t *testing.T) {
	tests := []struct {
		s    Status
		code uint16
		name string
	}{
		{StatusSuccess, 0x00, "SUCCESS"}, {StatusKeyENOENT, 0x01, "KEY_ENOENT"},
		{StatusKeyEEXISTS, 0x02, "KEY_EEXISTS"}, {StatusE2BIG, 0x03, "E2BIG"},
		{StatusEINVAL, 0x04, "EINVAL"}, {StatusNotStored, 0x05, "NOT_STORED"},
		{StatusDeltaBadval, 0x06, "DELTA_BADVAL"}, {StatusNotMyVBucket, 0x07, "NOT_MY_VBUCKET"},
		{StatusNoBucket, 0x08, "NO_BUCKET"}, {StatusLocked, 0x09, "LOCKED"},
		{StatusConfigOnly, 0x0d, "CONFIG_ONLY"}, {StatusAuthStale, 0x1f, "AUTH_STALE"},
		{StatusAuthError, 0x20, "AUTH_ERROR"}, {StatusAuthContinue, 0x21, "AUTH_CONTINUE"},
		{StatusERange, 0x22, "ERANGE"}, {StatusEAccess, 0x24, "EACCESS"},
		{StatusNotInitialized, 0x25, "NOT_INITIALIZED"}, {StatusUnknownCommand, 0x81, "UNKNOWN_COMMAND"},
		{StatusENOMEM, 0x82, "ENOMEM"}, {StatusNotSupported, 0x83, "NOT_SUPPORTED"},
		{StatusEINTERNAL, 0x84, "EINTERNAL"}, {StatusEBUSY, 0x85, "EBUSY"},
		{StatusETMPFAIL, 0x86, "ETMPFAIL"},
	}
	for _, tt := range tests {
		if uint16(tt.s) != tt.code || tt.s.String() != tt.name || !tt.s.Known() {
			t.Errorf("status %q: code 0x%02x String %q Known %v, want code 0x%02x", tt.name, uint16(tt.s), tt.s.String(), tt.s.Known(), tt.code)
		}
	}
	if got := Status(0xff01).String(); got != "0xff01" {
		t.Errorf("unknown status = %q, want 0xff01", got)
	}
	if !StatusEBUSY.Retryable() || !StatusETMPFAIL.Retryable() || StatusKeyENOENT.Retryable() {
		t.Errorf("Retryable wrong")
	}
}
