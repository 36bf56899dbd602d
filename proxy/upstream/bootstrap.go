package upstream

import (
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/vbproxy/vbproxy/memcached"
)

// HELLO features the pool asks for: XERROR (without it many errors close the
// connection) and SELECT_BUCKET. Nothing that changes what a plain memcached
// client sees (mutation seqnos, JSON/snappy datatypes, collections, ...).
const (
	featureXError       = 0x07
	featureSelectBucket = 0x08
	// featureCollections is asked for only with Options.Collections: then
	// every document key on the connection carries its collection ID.
	featureCollections = 0x12
)

// bootstrapper runs the connection handshake: HELLO, SASL_LIST_MECHS,
// SASL_AUTH [+ SASL_STEP], SELECT_BUCKET, pipelined where the answers do not
// decide what comes next. The caller sets the connection deadline.
type bootstrapper struct {
	w      io.Writer
	rd     *memcached.Reader
	o      *Options
	scram  *scramClients
	buf    []byte
	pkt    memcached.Packet
	opaque uint32
	// Results.
	plain    bool   // HELLO answered UNKNOWN_COMMAND: a plain memcached server
	features []byte // HELLO reply value: the features the server enabled
	mech     string // SASL mechanism used, "" when none
}

// pending is a request written and not yet answered.
type pending struct {
	op     memcached.Opcode
	opaque uint32
}

func (b *bootstrapper) add(op memcached.Opcode, key, value []byte) pending {
	b.opaque++
	b.buf = memcached.AppendRequest(b.buf, op, 0, b.opaque, 0, nil, key, value)
	return pending{op, b.opaque}
}

func (b *bootstrapper) flush() error {
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	if err != nil {
		return fmt.Errorf("write bootstrap: %w", err)
	}
	return nil
}

// read reads the response to p into b.pkt.
func (b *bootstrapper) read(p pending) error {
	if err := b.rd.ReadResponse(&b.pkt); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read %s response: %w", p.op, err)
	}
	if b.pkt.Opcode != p.op || b.pkt.Opaque != p.opaque {
		return fmt.Errorf("%w: got %s response with opaque %d, want %s with opaque %d",
			ErrProtocol, b.pkt.Opcode, b.pkt.Opaque, p.op, p.opaque)
	}
	return nil
}

// run performs the handshake.
func (b *bootstrapper) run() error {
	if b.o.User == "" {
		return b.runNoAuth()
	}
	hello := b.addHello()
	list := b.add(memcached.OpSASLList, nil, nil)
	if err := b.flush(); err != nil {
		return err
	}
	if err := b.readHello(hello); err != nil {
		return err
	}
	if err := b.read(list); err != nil {
		return err
	}
	if s := b.pkt.Status; s != memcached.StatusSuccess {
		return fmt.Errorf("%w: SASL_LIST_MECHS: %s%s", ErrAuth, s, detail(b.pkt.Value))
	}
	mi := chooseMechanism(string(b.pkt.Value), b.o.TLS != nil && !b.o.SCRAMOverTLS)
	if mi < 0 {
		return fmt.Errorf("%w: no supported SASL mechanism in %q", ErrAuth, printable(b.pkt.Value))
	}
	m := mechanisms[mi]
	b.mech = m.name
	if m.hash == nil {
		return b.plainAuth(m)
	}
	return b.scramAuth(mi, m)
}

// addHello queues HELLO with the agent name and the features the pool wants.
func (b *bootstrapper) addHello() pending {
	features := []byte{0, featureXError, 0, featureSelectBucket}
	if b.o.Collections {
		features = append(features, 0, featureCollections)
	}
	return b.add(memcached.OpHello, []byte(b.o.Agent), features)
}

// runNoAuth is the handshake without credentials, where the node may be a
// plain memcached server. memcached answers an unknown command that carries a
// body and then loses track of the stream (1.6 discards the commands that
// follow), so the first HELLO carries no body: UNKNOWN_COMMAND means plain
// memcached, done. Otherwise HELLO again with the features, and
// SELECT_BUCKET behind it when a bucket is configured.
func (b *bootstrapper) runNoAuth() error {
	probe := b.add(memcached.OpHello, nil, nil)
	if err := b.flush(); err != nil {
		return err
	}
	if err := b.readHello(probe); err != nil || b.plain {
		return err
	}
	hello := b.addHello()
	sel, doSelect := b.selectAfter()
	if err := b.flush(); err != nil {
		return err
	}
	if err := b.readHello(hello); err != nil {
		return err
	}
	if doSelect {
		return b.readSelect(sel)
	}
	return nil
}

func (b *bootstrapper) readHello(p pending) error {
	if err := b.read(p); err != nil {
		return err
	}
	switch s := b.pkt.Status; s {
	case memcached.StatusSuccess:
		b.features = append(b.features[:0], b.pkt.Value...)
	case memcached.StatusUnknownCommand:
		b.plain = true
	default:
		return fmt.Errorf("%w: HELLO: %s%s", ErrProtocol, s, detail(b.pkt.Value))
	}
	return nil
}

// selectAfter queues SELECT_BUCKET behind the final authentication step when
// a bucket is configured, so it costs no extra round trip.
func (b *bootstrapper) selectAfter() (pending, bool) {
	if b.o.Bucket == "" {
		return pending{}, false
	}
	return b.add(memcached.OpSelectBucket, []byte(b.o.Bucket), nil), true
}

func (b *bootstrapper) readSelect(p pending) error {
	if err := b.read(p); err != nil {
		return err
	}
	switch s := b.pkt.Status; s {
	case memcached.StatusSuccess:
		return nil
	case memcached.StatusKeyENOENT:
		return fmt.Errorf("%w: SELECT_BUCKET: unknown bucket %q%s", ErrAuth, b.o.Bucket, detail(b.pkt.Value))
	case memcached.StatusEAccess, memcached.StatusAuthError:
		return fmt.Errorf("%w: SELECT_BUCKET %q: %s (no access)%s", ErrAuth, b.o.Bucket, s, detail(b.pkt.Value))
	case memcached.StatusUnknownCommand:
		if b.o.User == "" {
			b.plain = true // a server without buckets: nothing to select
			return nil
		}
		fallthrough
	default:
		return fmt.Errorf("%w: SELECT_BUCKET %q: %s%s", ErrProtocol, b.o.Bucket, s, detail(b.pkt.Value))
	}
}

func (b *bootstrapper) plainAuth(m mechanism) error {
	auth := b.add(memcached.OpSASLAuth, []byte(m.name), plainPayload(b.o.User, b.o.Password))
	sel, doSelect := b.selectAfter()
	if err := b.flush(); err != nil {
		return err
	}
	if err := b.read(auth); err != nil {
		return err
	}
	if s := b.pkt.Status; s != memcached.StatusSuccess {
		return fmt.Errorf("%w: SASL_AUTH %s as %q: %s%s", ErrAuth, m.name, b.o.User, s, detail(b.pkt.Value))
	}
	if doSelect {
		return b.readSelect(sel)
	}
	return nil
}

func (b *bootstrapper) scramAuth(mi int, m mechanism) error {
	client, err := b.scram.get(mi, b.o.User, b.o.Password)
	if err != nil {
		return err
	}
	conv := client.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		return fmt.Errorf("%w: %s client-first: %v", ErrAuth, m.name, err)
	}
	auth := b.add(memcached.OpSASLAuth, []byte(m.name), []byte(first))
	if err := b.flush(); err != nil {
		return err
	}
	if err := b.read(auth); err != nil {
		return err
	}
	if s := b.pkt.Status; s != memcached.StatusAuthContinue {
		return fmt.Errorf("%w: SASL_AUTH %s as %q: %s%s", ErrAuth, m.name, b.o.User, s, detail(b.pkt.Value))
	}
	final, err := conv.Step(string(b.pkt.Value))
	if err != nil {
		return fmt.Errorf("%w: %s server-first: %v", ErrAuth, m.name, err)
	}
	step := b.add(memcached.OpSASLStep, []byte(m.name), []byte(final))
	sel, doSelect := b.selectAfter()
	if err := b.flush(); err != nil {
		return err
	}
	if err := b.read(step); err != nil {
		return err
	}
	if s := b.pkt.Status; s != memcached.StatusSuccess {
		return fmt.Errorf("%w: SASL_STEP %s as %q: %s%s", ErrAuth, m.name, b.o.User, s, detail(b.pkt.Value))
	}
	if _, err := conv.Step(string(b.pkt.Value)); err != nil || !conv.Valid() {
		return fmt.Errorf("%w: %s: server signature did not verify: %v", ErrAuth, m.name, err)
	}
	if doSelect {
		return b.readSelect(sel)
	}
	return nil
}

// hasFeature reports whether the server enabled HELLO feature f.
func (b *bootstrapper) hasFeature(f uint16) bool {
	for v := b.features; len(v) >= 2; v = v[2:] {
		if binary.BigEndian.Uint16(v) == f {
			return true
		}
	}
	return false
}

// detail formats an error reply's body (text, or XERROR JSON) for an error
// message: ": <text>", truncated and made printable; "" when empty.
func detail(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	return ": " + printable(v)
}

func printable(v []byte) string {
	const maxLen = 200
	if len(v) > maxLen {
		v = v[:maxLen]
	}
	out := make([]rune, 0, len(v))
	for len(v) > 0 {
		r, n := utf8.DecodeRune(v)
		v = v[n:]
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}
