package textdiff

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// Generate returns n random cases, the same for the same seed: pipelines of
// valid and invalid classic and meta commands over a few keys per case (so
// that hits, misses, CAS conflicts and non-numeric counters all occur),
// limited to what a proxy must reproduce byte for byte (no refused meta
// flags, no flush_all, no timing-dependent TTLs). A case
// with arithmetic, or a touch and a CAS, is marked CouchbaseDiffers.
func Generate(seed int64, n int) []Case {
	r := rand.New(rand.NewPCG(uint64(seed), 0x7465787464696666))
	cases := make([]Case, n)
	for i := range cases {
		g := &gen{r: r}
		steps := 1 + r.IntN(3)
		for range steps {
			g.read = map[string]bool{}
			var b strings.Builder
			for j := range 1 + r.IntN(8) {
				b.WriteString(g.command(j == 0))
			}
			g.steps = append(g.steps, b.String())
		}
		cases[i] = Case{Name: "gen_" + strconv.FormatInt(seed, 10) + "_" + strconv.Itoa(i), Steps: g.steps}
		switch {
		case g.arith:
			cases[i].CouchbaseDiffers = cbCounterPad
		case g.touched && g.showsCAS:
			cases[i].CouchbaseDiffers = cbTouchCAS
		}
	}
	return cases
}

type gen struct {
	r     *rand.Rand
	steps []string
	arith bool // incr, decr or ma: see cbCounterPad
	// read holds the keys a retrieval reads earlier in the current step.
	// memcached rewrites a counter in place (keeping a shorter result
	// space-padded) only while no unsent reply still references the item,
	// which depends on when it flushes; so no arithmetic follows a read of
	// the same key within a step.
	read map[string]bool
	// touched: a gat, gats, touch or mg T was generated; showsCAS: a
	// command that prints a CAS was (see cbTouchCAS).
	touched, showsCAS bool
}

var genKeys = []string{"a", "b", "c", "n", "s"}

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g *gen) key() string { return "{k}" + g.pick(genKeys...) }

// keySuffix is a key's name without the prefix, for {casof:...}.
func keySuffix(k string) string { return strings.TrimPrefix(k, "{k}") }

func (g *gen) chance(pct int) bool { return g.r.IntN(100) < pct }

func (g *gen) value() string {
	switch g.r.IntN(6) {
	case 0:
		return ""
	case 1:
		return strconv.Itoa(g.r.IntN(1000))
	case 2:
		return "18446744073709551615"
	case 3:
		return "line1\r\nline2"
	default:
		const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, 1+g.r.IntN(40))
		for i := range b {
			b[i] = alnum[g.r.IntN(len(alnum))]
		}
		return string(b)
	}
}

func (g *gen) noreply() string {
	if g.chance(20) {
		return " noreply"
	}
	return ""
}

func (g *gen) exptime() string { return g.pick("0", "0", "300", "-1", "2000000000", "100000000") }

func (g *gen) flags() string {
	return g.pick("0", "1", "4294967295", strconv.FormatUint(uint64(g.r.Uint32()), 10))
}

// command returns one command; first says it starts a step (see invalid).
func (g *gen) command(first bool) string {
	switch g.r.IntN(20) {
	case 0, 1, 2:
		return g.store()
	case 3:
		return g.cas()
	case 4, 5:
		return g.get()
	case 6:
		return "delete " + g.key() + g.noreply() + "\r\n"
	case 7:
		k := g.key()
		if g.read[k] {
			return "mn\r\n"
		}
		g.arith = true
		cmd := g.pick("incr", "decr")
		return cmd + " " + k + " " + g.pick("0", "1", "5", "18446744073709551615") + g.noreply() + "\r\n"
	case 8:
		g.touched = true
		return "touch " + g.key() + " " + g.pick("0", "300", "-1") + g.noreply() + "\r\n"
	case 9, 10:
		return g.mg()
	case 11, 12:
		return g.ms()
	case 13:
		return g.md()
	case 14:
		return g.ma()
	case 15:
		return "mn\r\n"
	case 16:
		return g.binary()
	default:
		return g.invalid(first)
	}
}

func (g *gen) store() string {
	cmd := g.pick("set", "set", "add", "replace", "append", "prepend")
	v := g.value()
	line := cmd + " " + g.key() + " " + g.flags() + " " + g.exptime() + " " + strconv.Itoa(len(v)) + g.noreply() + "\r\n"
	if g.chance(10) {
		return line + v + "XY" // a bad data chunk: exactly len+2 bytes are consumed
	}
	return line + v + "\r\n"
}

func (g *gen) cas() string {
	k := g.key()
	unique := g.pick("{casof:"+keySuffix(k)+"}", "{casof:"+keySuffix(k)+"}", "1", "0")
	v := g.value()
	return "cas " + k + " " + g.flags() + " 0 " + strconv.Itoa(len(v)) + " " + unique + g.noreply() + "\r\n" + v + "\r\n"
}

func (g *gen) get() string {
	cmd := g.pick("get", "gets", "gat", "gats")
	var b strings.Builder
	b.WriteString(cmd)
	if cmd == "gat" || cmd == "gats" {
		g.touched = true
		b.WriteString(" " + g.pick("0", "300"))
	}
	if cmd == "gets" || cmd == "gats" {
		g.showsCAS = true
	}
	for range 1 + g.r.IntN(6) {
		k := g.key()
		g.read[k] = true
		b.WriteString(" " + k)
	}
	return b.String() + "\r\n"
}

// metaFlags picks a subset of flags in random order; c always comes with k,
// so the CAS in the reply can be named after its key.
func (g *gen) metaFlags(pool []string) []string {
	var out []string
	for _, i := range g.r.Perm(len(pool)) {
		if g.chance(40) {
			out = append(out, pool[i])
		}
	}
	hasC, hasK := false, false
	for _, f := range out {
		hasC = hasC || f == "c"
		hasK = hasK || f == "k"
	}
	if hasC && !hasK {
		out = append(out, "k")
	}
	g.showsCAS = g.showsCAS || hasC
	return out
}

func join(head string, flags []string) string {
	if len(flags) == 0 {
		return head + "\r\n"
	}
	return head + " " + strings.Join(flags, " ") + "\r\n"
}

func (g *gen) mg() string {
	fl := g.metaFlags([]string{"v", "f", "c", "s", "k", "Oo1", "q", "u"})
	if g.chance(20) {
		g.touched = true
		fl = append(fl, "T"+g.pick("0", "300"), "t")
	}
	k := g.key()
	g.read[k] = true
	return join("mg "+k, fl)
}

func (g *gen) ms() string {
	k := g.key()
	v := g.value()
	fl := g.metaFlags([]string{"T" + g.exptime(), "F" + g.flags(), "c", "k", "Oo2", "q"})
	if g.chance(50) {
		fl = append(fl, "M"+g.pick("S", "E", "A", "P", "R"))
	}
	if g.chance(25) {
		fl = append(fl, "C"+g.pick("{casof:"+keySuffix(k)+"}", "0", "1"))
	}
	return join("ms "+k+" "+strconv.Itoa(len(v)), fl) + v + "\r\n"
}

func (g *gen) md() string {
	k := g.key()
	fl := g.metaFlags([]string{"q", "k", "Oo3"})
	if g.chance(25) {
		fl = append(fl, "C"+g.pick("{casof:"+keySuffix(k)+"}", "0", "1"))
	}
	return join("md "+k, fl)
}

func (g *gen) ma() string {
	fl := g.metaFlags([]string{"v", "c", "k", "Oo4", "D" + g.pick("1", "3"), "J" + g.pick("0", "9")})
	g.arith = true
	mode := g.pick("", "MI", "MD", "M+", "M-")
	if mode != "" {
		fl = append(fl, mode)
	}
	k := g.key()
	if g.read[k] {
		return "mn\r\n"
	}
	quiet := false
	for _, f := range fl {
		quiet = quiet || f == "q"
	}
	// q with N differs on an autovivified miss (see Cases, ma_quiet_vivify).
	if g.chance(30) && !quiet {
		fl = append(fl, "N"+g.pick("0", "300"))
	} else if g.chance(30) {
		fl = append(fl, "q")
	}
	return join("ma "+k, fl)
}

// binary uses keys reached only with flag b, so that memcached's memory of
// how a key was stored never matters, and mg asks for no k on them: an item
// memcached created or rewrote in ma has lost that memory (see Cases,
// key_created_by_ma_read_back_with_b).
func (g *gen) binary() string {
	k := "{b64:" + g.pick("b0", "b1") + "}"
	switch g.r.IntN(4) {
	case 0:
		v := g.value()
		return join("ms "+k+" "+strconv.Itoa(len(v))+" b", g.metaFlags([]string{"k", "q", "T0"})) + v + "\r\n"
	case 1:
		g.read[k] = true
		return join("mg "+k+" b", g.metaFlags([]string{"v", "s", "q"}))
	case 2:
		return join("md "+k+" b", g.metaFlags([]string{"k", "q"}))
	default:
		if g.read[k] {
			return "mn\r\n"
		}
		g.arith = true
		return join("ma "+k+" b", g.metaFlags([]string{"v", "k", "N0"}))
	}
}

// invalid returns a malformed command. A get line with an over-long key
// comes only first in a step: memcached also drops the unsent replies of the
// commands before it in the same read (see Cases,
// get_key_too_long_drops_earlier_pipelined_replies).
func (g *gen) invalid(first bool) string {
	k := g.key()
	n := 9
	if first {
		n = 10
	}
	switch g.r.IntN(n) {
	case 0:
		return "foo " + k + "\r\n"
	case 1:
		return "get\r\n"
	case 2:
		return "mg " + k + " " + g.pick("z", "v v", "Tabc", "Mxx") + "\r\n"
	case 3:
		return "incr " + k + " abc\r\n"
	case 4:
		return "ms " + k + " 2 " + g.pick("z", "Tabc", "MX", "q q") + "\r\nhi\r\n" // swallowed
	case 5:
		return "touch " + k + " x\r\n"
	case 6:
		return "set " + k + " abc 0 5\r\nhello\r\n" // not swallowed: "hello" is an unknown command
	case 7:
		return "delete " + k + " 1\r\n"
	case 8:
		return "ma " + k + " " + g.pick("MX", "Dabc", "z") + "\r\n"
	default:
		return "get " + k + " {key:251}\r\n"
	}
}
