package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// restRebalance is a rebalance started over REST, running in the background.
type restRebalance struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// restError writes Couchbase's error shape: 400 and a JSON list of messages.
func restError(w http.ResponseWriter, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, []string{fmt.Sprintf(format, args...)})
}

// handleAddNode answers POST /controller/addNode (hostname, user,
// password) and POST /sim/addNode (hostname optional: the next address).
// The node is started by the simulator at hostname ("host" or
// "host:mgmtport"); user and password must be the cluster's.
func (n *Node) handleAddNode(w http.ResponseWriter, r *http.Request) {
	hostname := formValue(r, "hostname")
	if r.URL.Path == "/controller/addNode" {
		if hostname == "" {
			restError(w, "Hostname is required.")
			return
		}
		if !n.c.auth.checkBasic(r.Form.Get("user"), r.Form.Get("password")) {
			restError(w, "Authentication failed. Verify username and password.")
			return
		}
	}
	host, port, err := parseHostname(hostname)
	if err != nil {
		restError(w, "Invalid hostname %q: %v", hostname, err)
		return
	}
	n.c.mu.Lock()
	running := n.c.rebalance != nil
	n.c.mu.Unlock()
	if running {
		restError(w, "Rebalance running.")
		return
	}
	added, err := n.c.addNode(host, port)
	if err != nil {
		restError(w, "Failed to add node %s: %v", hostname, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"otpNode": added.otp})
}

// parseHostname splits "host", "host:port" or "http://host:port"; port -1
// means the cluster's default. An empty hostname gives host "".
func parseHostname(s string) (host string, port int, err error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://")
	s = strings.TrimSuffix(s, "/")
	if s == "" {
		return "", -1, nil
	}
	h, p, serr := net.SplitHostPort(s)
	if serr != nil {
		return strings.Trim(s, "[]"), -1, nil
	}
	if h == "" {
		return "", 0, fmt.Errorf("%q has a port but no host", s)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a port number", p)
	}
	return h, port, nil
}

// splitNodes parses a comma-separated otpNode list.
func splitNodes(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// handleRebalance answers POST /controller/rebalance (knownNodes,
// ejectedNodes): knownNodes must name every node, as Couchbase checks. The
// rebalance runs in the background; follow it with
// GET /pools/default/rebalanceProgress.
func (n *Node) handleRebalance(w http.ResponseWriter, r *http.Request) {
	known := splitNodes(formValue(r, "knownNodes"))
	ejected := splitNodes(r.Form.Get("ejectedNodes"))
	all := n.c.Nodes()
	var names []string
	for _, x := range all {
		names = append(names, x.otp)
	}
	slices.Sort(names)
	sortedKnown := slices.Clone(known)
	slices.Sort(sortedKnown)
	if !slices.Equal(slices.Compact(sortedKnown), names) {
		writeJSON(w, http.StatusBadRequest, map[string]int{"mismatch": 1})
		return
	}
	var eject []*Node
	for _, name := range ejected {
		x := n.c.Node(name)
		if x == nil {
			restError(w, "Unknown server given: %s", name)
			return
		}
		eject = append(eject, x)
	}
	if err := n.c.startRESTRebalance(eject); err != nil {
		restError(w, "Rebalance not started: %v", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// startRESTRebalance runs Rebalance in the background.
func (c *Cluster) startRESTRebalance(eject []*Node) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.rebalance != nil {
		return ErrRebalanceActive
	}
	ctx, cancel := context.WithCancel(c.ctx)
	rb := &restRebalance{cancel: cancel, done: make(chan struct{})}
	c.rebalance = rb
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(rb.done)
		err := c.Rebalance(ctx, eject...)
		cancel()
		c.mu.Lock()
		c.rebalance = nil
		c.lastRebalanceErr = err
		c.mu.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) {
			c.log.Warn("rebalance failed", "err", err)
		}
	}()
	return nil
}

// handleStopRebalance answers POST /controller/stopRebalance.
func (n *Node) handleStopRebalance(w http.ResponseWriter, r *http.Request) {
	n.c.stopRebalance()
	w.WriteHeader(http.StatusOK)
}

// handleRebalanceProgress answers GET /pools/default/rebalanceProgress.
func (n *Node) handleRebalanceProgress(w http.ResponseWriter, r *http.Request) {
	n.c.mu.Lock()
	running := n.c.rebalance != nil
	lastErr := n.c.lastRebalanceErr
	n.c.mu.Unlock()
	resp := map[string]string{"status": "none"}
	if running {
		resp["status"] = "running"
	} else if lastErr != nil {
		resp["errorMessage"] = "Rebalance failed: " + lastErr.Error()
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleFailOver answers POST /controller/failOver (otpNode).
func (n *Node) handleFailOver(w http.ResponseWriter, r *http.Request) {
	x, ok := n.nodeParam(w, r)
	if !ok {
		return
	}
	if err := n.c.Failover(x); err != nil {
		restError(w, "Failover of %s failed: %v", x.otp, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handlePause answers POST /sim/pause (otpNode).
func (n *Node) handlePause(w http.ResponseWriter, r *http.Request) {
	if x, ok := n.nodeParam(w, r); ok {
		n.c.Pause(x)
		w.WriteHeader(http.StatusOK)
	}
}

// handleResume answers POST /sim/resume (otpNode).
func (n *Node) handleResume(w http.ResponseWriter, r *http.Request) {
	if x, ok := n.nodeParam(w, r); ok {
		n.c.Resume(x)
		w.WriteHeader(http.StatusOK)
	}
}

// nodeParam finds the node named by the otpNode parameter.
func (n *Node) nodeParam(w http.ResponseWriter, r *http.Request) (*Node, bool) {
	name := formValue(r, "otpNode")
	if name == "" {
		restError(w, "otpNode is required.")
		return nil, false
	}
	x := n.c.Node(name)
	if x == nil {
		restError(w, "Unknown server given: %s", name)
		return nil, false
	}
	return x, true
}
