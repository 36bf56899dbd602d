package memcached

import (
	"fmt"

	gm "github.com/couchbase/gomemcached"
)

// Opcode is a binary-protocol command code.
type Opcode uint8

// Opcodes a KV proxy meets. Values come from gomemcached where it defines
// them; the rest are from the memcached and Couchbase protocol documents.
const (
	OpGet                     = Opcode(gm.GET)
	OpSet                     = Opcode(gm.SET)
	OpAdd                     = Opcode(gm.ADD)
	OpReplace                 = Opcode(gm.REPLACE)
	OpDelete                  = Opcode(gm.DELETE)
	OpIncrement               = Opcode(gm.INCREMENT)
	OpDecrement               = Opcode(gm.DECREMENT)
	OpQuit                    = Opcode(gm.QUIT)
	OpFlush                   = Opcode(gm.FLUSH)
	OpGetQ                    = Opcode(gm.GETQ)
	OpNoop                    = Opcode(gm.NOOP)
	OpVersion                 = Opcode(gm.VERSION)
	OpGetK                    = Opcode(gm.GETK)
	OpGetKQ                   = Opcode(gm.GETKQ)
	OpAppend                  = Opcode(gm.APPEND)
	OpPrepend                 = Opcode(gm.PREPEND)
	OpStat                    = Opcode(gm.STAT)
	OpSetQ                    = Opcode(gm.SETQ)
	OpAddQ                    = Opcode(gm.ADDQ)
	OpReplaceQ                = Opcode(gm.REPLACEQ)
	OpDeleteQ                 = Opcode(gm.DELETEQ)
	OpIncrementQ              = Opcode(gm.INCREMENTQ)
	OpDecrementQ              = Opcode(gm.DECREMENTQ)
	OpQuitQ                   = Opcode(gm.QUITQ)
	OpFlushQ                  = Opcode(gm.FLUSHQ)
	OpAppendQ                 = Opcode(gm.APPENDQ)
	OpPrependQ                = Opcode(gm.PREPENDQ)
	OpVerbosity        Opcode = 0x1b
	OpTouch            Opcode = 0x1c
	OpGAT                     = Opcode(gm.GAT)
	OpGATQ             Opcode = 0x1e
	OpHello                   = Opcode(gm.HELLO)
	OpSASLList                = Opcode(gm.SASL_LIST_MECHS)
	OpSASLAuth                = Opcode(gm.SASL_AUTH)
	OpSASLStep                = Opcode(gm.SASL_STEP)
	OpGATK             Opcode = 0x23 // IOCTL_GET on Couchbase: never forward
	OpGATKQ            Opcode = 0x24 // IOCTL_SET on Couchbase: never forward
	OpGetReplica              = Opcode(gm.GET_REPLICA)
	OpSelectBucket            = Opcode(gm.SELECT_BUCKET)
	OpGetClusterConfig Opcode = 0xb5
	OpGetCollectionID  Opcode = 0xbb // "scope.collection" in the value; extras: manifest UID (8), collection ID (4)
	OpGetErrorMap             = Opcode(gm.GET_ERROR_MAP)
)

// Route says how a proxy treats an opcode.
type Route uint8

const (
	RouteUnknown   Route = iota // not in the table: answer UNKNOWN_COMMAND, keep the connection
	RouteKey                    // hash the key, send to the active node
	RouteReplica                // GET_REPLICA: send to a replica node
	RouteLocal                  // the proxy answers itself
	RouteBroadcast              // FLUSH: to every node, success only if all succeed
	RouteAuth                   // SASL: authentication, answered by the proxy
	RouteNever                  // known, but never forwarded (means something else on Couchbase, or server admin)
)

var routeNames = [...]string{"unknown", "key", "replica", "local", "broadcast", "auth", "never"}

func (r Route) String() string {
	if int(r) < len(routeNames) {
		return routeNames[r]
	}
	return fmt.Sprintf("Route(%d)", uint8(r))
}

// OpInfo describes one opcode.
type OpInfo struct {
	Name string
	// HasKey: the packet's key is a document key that selects the vBucket.
	// (HELLO, SASL, SELECT_BUCKET and STAT carry a key that is not one.)
	HasKey bool
	// Quiet: the server suppresses some replies (see Opcode.Suppress).
	Quiet bool
	// Twin is the quiet version of a loud op, or the loud version of a quiet
	// one; the opcode itself when it has none.
	Twin  Opcode
	Route Route
	// MissQuiet: a quiet read (GETQ, GETKQ, GATQ) that suppresses only misses.
	// Other quiet ops suppress only success.
	MissQuiet bool
}

// Known reports whether the opcode is in the table.
func (o Opcode) Known() bool { return opTable[o].Name != "" }

// Info returns the opcode's table entry; an unknown opcode has Route
// RouteUnknown and an empty Name.
func (o Opcode) Info() OpInfo { return opTable[o] }

// String returns the opcode's name ("GETKQ"), or its hex code ("0x3d") when it
// is not in the table. It does not allocate.
func (o Opcode) String() string {
	if n := opTable[o].Name; n != "" {
		return n
	}
	return hexNames[o]
}

// Quiet reports whether o is a quiet opcode.
func (o Opcode) Quiet() bool { return opTable[o].Quiet }

// Loud returns the loud twin of a quiet opcode, or o itself.
func (o Opcode) Loud() Opcode {
	if opTable[o].Quiet {
		return opTable[o].Twin
	}
	return o
}

// QuietVersion returns the quiet twin of a loud opcode, or o itself when o is
// quiet or has no quiet twin.
func (o Opcode) QuietVersion() Opcode {
	if e := opTable[o]; e.Name != "" && !e.Quiet {
		return e.Twin
	}
	return o
}

// Suppress reports whether a reply with status s to a request with opcode o
// is withheld from the client. Quiet mutations and arithmetic suppress only
// success; GETQ, GETKQ and GATQ suppress only a miss. Errors always go out.
func (o Opcode) Suppress(s Status) bool {
	e := &opTable[o]
	if !e.Quiet {
		return false
	}
	if e.MissQuiet {
		return s == StatusKeyENOENT
	}
	return s == StatusSuccess
}

// opTable is indexed by opcode. Entries are filled by addOp and addPair in
// buildOpTable; every other entry is the zero OpInfo (RouteUnknown).
var opTable = buildOpTable()

var hexNames = buildHexNames()

func buildOpTable() (t [256]OpInfo) {
	op := func(o Opcode, name string, hasKey bool, r Route) {
		t[o] = OpInfo{Name: name, HasKey: hasKey, Twin: o, Route: r}
	}
	pair := func(loud, quiet Opcode, name string, hasKey bool, r Route, missQuiet bool) {
		t[loud] = OpInfo{Name: name, HasKey: hasKey, Twin: quiet, Route: r}
		t[quiet] = OpInfo{Name: name + "Q", HasKey: hasKey, Quiet: true, Twin: loud, Route: r, MissQuiet: missQuiet}
	}
	pair(OpGet, OpGetQ, "GET", true, RouteKey, true)
	pair(OpGetK, OpGetKQ, "GETK", true, RouteKey, true)
	pair(OpSet, OpSetQ, "SET", true, RouteKey, false)
	pair(OpAdd, OpAddQ, "ADD", true, RouteKey, false)
	pair(OpReplace, OpReplaceQ, "REPLACE", true, RouteKey, false)
	pair(OpDelete, OpDeleteQ, "DELETE", true, RouteKey, false)
	pair(OpIncrement, OpIncrementQ, "INCREMENT", true, RouteKey, false)
	pair(OpDecrement, OpDecrementQ, "DECREMENT", true, RouteKey, false)
	pair(OpAppend, OpAppendQ, "APPEND", true, RouteKey, false)
	pair(OpPrepend, OpPrependQ, "PREPEND", true, RouteKey, false)
	pair(OpGAT, OpGATQ, "GAT", true, RouteKey, true)
	pair(OpGATK, OpGATKQ, "GATK", true, RouteNever, true)
	pair(OpQuit, OpQuitQ, "QUIT", false, RouteLocal, false)
	pair(OpFlush, OpFlushQ, "FLUSH", false, RouteBroadcast, false)
	op(OpTouch, "TOUCH", true, RouteKey)
	op(OpGetReplica, "GET_REPLICA", true, RouteReplica)
	op(OpNoop, "NOOP", false, RouteLocal)
	op(OpVersion, "VERSION", false, RouteLocal)
	op(OpStat, "STAT", false, RouteLocal)
	op(OpVerbosity, "VERBOSITY", false, RouteLocal)
	op(OpHello, "HELLO", false, RouteLocal)
	op(OpSelectBucket, "SELECT_BUCKET", false, RouteLocal)
	op(OpSASLList, "SASL_LIST_MECHS", false, RouteAuth)
	op(OpSASLAuth, "SASL_AUTH", false, RouteAuth)
	op(OpSASLStep, "SASL_STEP", false, RouteAuth)
	op(OpGetClusterConfig, "GET_CLUSTER_CONFIG", false, RouteNever)
	op(OpGetErrorMap, "GET_ERROR_MAP", false, RouteNever)
	op(OpGetCollectionID, "GET_COLLECTION_ID", false, RouteNever)
	// Server administration and replication: known, never forwarded.
	op(Opcode(gm.SET_VBUCKET), "SET_VBUCKET", false, RouteNever)
	op(0x3e, "GET_VBUCKET", false, RouteNever)
	op(0x3f, "DEL_VBUCKET", false, RouteNever)
	op(0x25, "CONFIG_VALIDATE", false, RouteNever)
	op(0x26, "CONFIG_RELOAD", false, RouteNever)
	op(Opcode(gm.AUDIT), "AUDIT_PUT", false, RouteNever)
	op(0x28, "AUDIT_CONFIG_RELOAD", false, RouteNever)
	op(0x29, "SHUTDOWN", false, RouteNever)
	op(Opcode(gm.UPR_OPEN), "DCP_OPEN", false, RouteNever)
	return t
}

func buildHexNames() (t [256]string) {
	for i := range t {
		t[i] = fmt.Sprintf("0x%02x", i)
	}
	return t
}
