// Package netns builds small networks of Linux network namespaces for fault
// tests: a Lab is a hub namespace holding a bridge, and each Host is a
// namespace of its own joined to that bridge by a veth pair, with one address
// from 198.18.0.0/15 (the range RFC 2544 sets aside for benchmarking network
// devices). The addresses exist only inside the lab's namespaces, so labs
// never touch the machine's own network and several labs can use the same
// addresses at once.
//
// A Host runs processes inside its namespace (Host.Command, through
// `ip netns exec`) and opens sockets there from the calling process
// (Host.Listen, Host.Dial: the socket is created on an OS thread switched into
// the namespace with setns and stays there), so that one in-process
// simulated cluster can have each node in a namespace of its own.
//
// Faults are applied inside a host's namespace: nftables rules in a table of
// their own (Blackhole drops every packet without a reset, Loss drops a random
// percentage, DropPort cuts one TCP port, such as the cluster manager's),
// and LinkDown takes the host's link to the bridge down. Heal undoes all of
// them.
//
// Namespace names start with "vbf<pid>-", so Open can remove the namespaces
// left behind by a process that died before its cleanup ran. Everything needs
// root (CAP_NET_ADMIN and CAP_SYS_ADMIN), iproute2 and nftables; New skips the
// test only when the kernel refuses namespaces, and fails it when a tool is
// missing.
package netns
