package vbmap

import (
	"fmt"
	"strings"
)

// extNode is a validated nodesExt entry.
type extNode struct {
	host     string                // bare default-network hostname; "" if unknown
	explicit bool                  // the config named the host (not filled in from the source)
	services map[string]int        // default-network ports
	alts     map[string]rawAltAddr // alternate networks
}

// address returns the node's hostname and port for service svc on network.
// Alternate networks fall back to the default hostname and port where the
// alternate omits one. It returns "", 0 when unknown.
func (e *extNode) address(network, svc string) (string, int) {
	host, port := e.host, e.services[svc]
	if network != NetworkDefault {
		if alt, ok := e.alts[network]; ok {
			if alt.Hostname != "" {
				host = bareHost(alt.Hostname)
			}
			if p := alt.Ports[svc]; p > 0 {
				port = p
			}
		}
	}
	if host == "" || port <= 0 {
		return "", 0
	}
	return host, port
}

// mgmtURL returns the node's cluster manager URL on network, "" if unknown.
func (e *extNode) mgmtURL(network string, secure bool) string {
	scheme, svc := "http", "mgmt"
	if secure {
		scheme, svc = "https", "mgmtSSL"
	}
	h, p := e.address(network, svc)
	if h == "" {
		return ""
	}
	return scheme + "://" + joinHostPort(h, p)
}

// parseNodesExt validates nodesExt, filling in source host for nodes without
// a hostname.
func parseNodesExt(raw []rawNodeExt, host string) ([]extNode, error) {
	out := make([]extNode, len(raw))
	for i, r := range raw {
		field := fmt.Sprintf("nodesExt[%d]", i)
		e := extNode{services: r.Services, alts: r.AlternateAddresses}
		switch {
		case r.Hostname == "" || r.Hostname == hostPlaceholder:
			e.host = host
		default:
			e.host = bareHost(replaceHost(r.Hostname, host, false))
			e.explicit = true
		}
		for svc, p := range r.Services {
			if p < 0 || p > 65535 {
				return nil, configErr(field+".services."+svc, "invalid port %d", p)
			}
		}
		for name, alt := range r.AlternateAddresses {
			for svc, p := range alt.Ports {
				if p < 0 || p > 65535 {
					return nil, configErr(field+".alternateAddresses."+name+".ports."+svc, "invalid port %d", p)
				}
			}
		}
		out[i] = e
	}
	return out, nil
}

// resolveNetwork picks the network for "auto": the default network when host
// is the explicit hostname of a node, else the alternate network naming host,
// else the default network.
func resolveNetwork(nodes []extNode, host string) string {
	if host == "" {
		return NetworkDefault
	}
	for i := range nodes {
		if nodes[i].explicit && strings.EqualFold(nodes[i].host, host) {
			return NetworkDefault
		}
	}
	for i := range nodes {
		for name, alt := range nodes[i].alts {
			if alt.Hostname != "" && strings.EqualFold(bareHost(alt.Hostname), host) {
				return name
			}
		}
	}
	return NetworkDefault
}

// tlsEnabled is the reason given in errors about missing TLS ports.
const tlsEnabled = "missing (cluster.tls is enabled)"

// buildNodes fills m.nodes (serverList order) and m.mgmtURLs for network.
// Each serverList entry is matched to its nodesExt entry by hostname and
// kv port (under TLS also by kvSSL port, after every kv port); the package
// doc, "TLS", states the rule.
func (m *Map) buildNodes(raw *rawConfig, servers []hostPortEntry, host, network string, useTLS bool) error {
	ext, err := parseNodesExt(raw.NodesExt, host)
	if err != nil {
		return err
	}
	if useTLS && len(ext) == 0 {
		return configErr("nodesExt", "%s: the TLS ports are only listed there", tlsEnabled)
	}
	if network == NetworkAuto {
		network = resolveNetwork(ext, host)
	}
	m.network = network

	byKV := make(map[string]int, len(ext))
	for i := range ext {
		if kv := ext[i].services["kv"]; ext[i].host != "" && kv > 0 {
			byKV[hostKey(ext[i].host, kv)] = i
		}
	}
	if useTLS {
		for i := range ext {
			if p := ext[i].services["kvSSL"]; ext[i].host != "" && p > 0 {
				if _, taken := byKV[hostKey(ext[i].host, p)]; !taken {
					byKV[hostKey(ext[i].host, p)] = i
				}
			}
		}
	}
	// Old servers have no nodesExt: the full config's "nodes" list gives the
	// management port of each KV node on the default network.
	legacy := make(map[string]string)
	if len(ext) == 0 && network == NetworkDefault {
		for _, n := range raw.Nodes {
			mg, err := parseHostPort(n.Hostname, host)
			if err != nil || n.Ports.Direct <= 0 || n.Ports.Direct > 65535 {
				continue
			}
			u := "http://" + mg.String()
			legacy[hostKey(mg.host, n.Ports.Direct)] = u
			m.mgmtURLs = appendUnique(m.mgmtURLs, u)
		}
	}

	m.nodes = make([]Node, len(servers))
	for i, s := range servers {
		key := hostKey(s.host, s.port)
		n := Node{Addr: s.String(), MgmtURL: legacy[key]}
		j, ok := byKV[key]
		switch {
		case ok && useTLS:
			h, p := ext[j].address(network, "kvSSL")
			if h == "" {
				return configErr(fmt.Sprintf("nodesExt[%d].services.kvSSL", j), "%s", tlsEnabled)
			}
			n.Addr = joinHostPort(h, p)
			n.MgmtURL = ext[j].mgmtURL(network, true)
		case ok:
			if h, p := ext[j].address(network, "kv"); h != "" {
				n.Addr = joinHostPort(h, p)
			}
			n.MgmtURL = ext[j].mgmtURL(network, false)
		case useTLS:
			return configErr(fmt.Sprintf("vBucketServerMap.serverList[%d]", i),
				"%q matches no nodesExt entry (by hostname and kv port), so its kvSSL port is unknown (cluster.tls is enabled)", s.String())
		}
		m.nodes[i] = n
	}
	for i := range ext {
		if u := ext[i].mgmtURL(network, useTLS); u != "" {
			m.mgmtURLs = appendUnique(m.mgmtURLs, u)
		}
	}
	return nil
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
