package netns

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// faultTable is the nftables table holding a host's faults.
const faultTable = "vbfault"

// Fault is one nftables fault on a host's link to the bridge (device eth0);
// loopback traffic inside the namespace is never touched. Build faults with
// Blackhole, Loss and DropPort; apply them with Host.Apply.
type Fault struct {
	desc     string
	in, out  []string // rule bodies for the input and output hooks
	validErr error
}

// String describes the fault ("blackhole", "loss 5%", "drop tcp port 8091").
func (f Fault) String() string { return f.desc }

// Blackhole drops every packet to and from the host: peers see no reset and
// no answer, as when a pod's address stops routing.
func Blackhole() Fault {
	return Fault{desc: "blackhole", in: []string{"drop"}, out: []string{"drop"}}
}

// Loss drops percent of the packets in each direction, at random.
func Loss(percent int) Fault {
	f := Fault{desc: fmt.Sprintf("loss %d%%", percent)}
	if percent < 1 || percent > 100 {
		f.validErr = fmt.Errorf("netns: loss %d%%: want 1-100", percent)
		return f
	}
	rule := "drop"
	if percent < 100 {
		rule = fmt.Sprintf("numgen random mod 100 < %d drop", percent)
	}
	f.in, f.out = []string{rule}, []string{rule}
	return f
}

// DropPort drops the TCP packets from and to port on the host, in both
// roles (the host serving on port, or talking to a peer's port): a partition
// of one service, such as the cluster manager on 8091, while the rest works.
func DropPort(port int) Fault {
	f := Fault{desc: fmt.Sprintf("drop tcp port %d", port)}
	if port < 1 || port > 65535 {
		f.validErr = fmt.Errorf("netns: drop port %d: not a port", port)
		return f
	}
	f.in = []string{fmt.Sprintf("tcp dport %d drop", port), fmt.Sprintf("tcp sport %d drop", port)}
	f.out = f.in
	return f
}

// Apply replaces the host's nftables faults with faults, atomically (one
// `nft -f` transaction). Apply() with no fault removes them all.
func (h *Host) Apply(faults ...Fault) error {
	var in, out []string
	for _, f := range faults {
		if f.validErr != nil {
			return f.validErr
		}
		for _, r := range f.in {
			in = append(in, `iifname "eth0" `+r)
		}
		for _, r := range f.out {
			out = append(out, `oifname "eth0" `+r)
		}
	}
	var b strings.Builder
	// Creating the table first makes the delete valid whether or not it
	// existed; the whole script is one transaction.
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\n", faultTable, faultTable)
	if len(faults) > 0 {
		fmt.Fprintf(&b, "table inet %s {\n", faultTable)
		fmt.Fprintf(&b, "\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n")
		fmt.Fprintf(&b, "\t\t%s\n", synCounterRule)
		for _, r := range in {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		fmt.Fprintf(&b, "\t}\n\tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n")
		for _, r := range out {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		fmt.Fprintf(&b, "\t}\n}\n")
	}
	if err := run([]byte(b.String()), "ip", "netns", "exec", h.NS, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("netns: host %q: apply %v: %w", h.Name, faults, err)
	}
	return nil
}

// synCounterRule counts the connection attempts (SYN without ACK) that
// reach the host while faults are applied, dropped or not.
const synCounterRule = `iifname "eth0" tcp flags & (syn | ack) == syn counter comment "syn-in"`

var synCounter = regexp.MustCompile(`packets (\d+) bytes \d+ comment "syn-in"`)

// SYNs returns how many connection attempts (TCP SYNs) reached the host
// since the last Apply with faults: a blackholed node sees its peers' probes
// this way. 0 when no fault is applied.
func (h *Host) SYNs() (int, error) {
	out, err := exec.Command("ip", "netns", "exec", h.NS, "nft", "list", "table", "inet", faultTable).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No such file") {
			return 0, nil
		}
		return 0, fmt.Errorf("netns: host %q: nft list: %w: %s", h.Name, err, out)
	}
	m := synCounter.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("netns: host %q: no SYN counter in %s", h.Name, out)
	}
	return strconv.Atoi(string(m[1]))
}

// LinkDown takes the host's link to the bridge down (the bridge side of its
// veth pair): the host's eth0 loses carrier and nothing passes.
func (h *Host) LinkDown() error {
	return ipRun("-n", h.lab.hub, "link", "set", h.hubIf, "down")
}

// LinkUp brings the link back.
func (h *Host) LinkUp() error {
	return ipRun("-n", h.lab.hub, "link", "set", h.hubIf, "up")
}

// Heal removes every fault: the nftables rules and a downed link.
func (h *Host) Heal() error {
	if err := h.Apply(); err != nil {
		return err
	}
	return h.LinkUp()
}
