package sim

import (
	"net/http"
	"strconv"
)

// The simulator-only REST calls for the run-time switches (switches.go):
//
//	POST /sim/streams  stalled=true|false     Cluster.SetStreamsStalled
//	POST /sim/push     enabled=true|false     Cluster.SetClustermapPush
//	GET  /sim/switches                        {"mgmtReachable":..,"streamsStalled":..,"clustermapPush":..}
//	POST /sim/mgmt     reachable=true|false   Cluster.SetMgmtReachable (ControlHandler only)
//
// Every node's cluster manager serves the first three; ControlHandler
// serves all four and stays reachable when the managers are not (a node
// cannot serve /sim/mgmt: turning it off would reset the very connection
// that asked).

// switchRoutes registers the switch calls on a node's mux.
func (n *Node) switchRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /sim/streams", n.authed(boolSwitch("stalled", n.c.SetStreamsStalled)))
	mux.HandleFunc("POST /sim/push", n.authed(boolSwitch("enabled", n.c.SetClustermapPush)))
	mux.HandleFunc("GET /sim/switches", n.authed(n.handleSwitches))
}

// boolSwitch answers a POST that sets a switch from the boolean parameter
// param: 200 with the switches' state, 400 when param is missing or not a
// boolean.
func boolSwitch(param string, set func(bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw := formValue(r, param)
		v, err := strconv.ParseBool(raw)
		if err != nil {
			restError(w, "%s must be true or false, not %q.", param, raw)
			return
		}
		set(v)
		w.WriteHeader(http.StatusOK)
	}
}

func (n *Node) handleSwitches(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{
		"mgmtReachable":  n.c.MgmtReachable(),
		"streamsStalled": n.c.StreamsStalled(),
		"clustermapPush": n.c.ClustermapPush(),
	})
}

// ControlHandler serves POST /sim/mgmt and, for every other path, the
// cluster manager API of the cluster's first node without going through any
// node's listener: it answers while the managers are unreachable
// (SetMgmtReachable) and after that node leaves (the next node answers).
// cmd/cbsim serves it with -control. Config reads through it answer as that
// node, and stall while it is paused; control calls (/controller/*, /sim/*,
// scopes and collections) do not. With no node left it answers 503.
func (c *Cluster) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sim/mgmt", func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || !c.auth.checkBasic(user, pass) {
			unauthorized(w)
			return
		}
		boolSwitch("reachable", c.SetMgmtReachable)(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		nodes := c.Nodes()
		if len(nodes) == 0 {
			http.Error(w, "no node left", http.StatusServiceUnavailable)
			return
		}
		nodes[0].http.Handler.ServeHTTP(w, r)
	})
	return mux
}
