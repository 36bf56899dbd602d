// Package memcached is vbproxy's wire layer for the memcached binary protocol.
//
// It has four parts, each usable on its own:
//
//   - Header: the 24-byte request/response header, decoded and encoded in place
//     without allocation (header.go).
//   - Opcode and Status: the opcode table (name, whether the op carries a
//     document key, quiet/loud twins, and how a proxy must treat it) and the
//     status names used in logs and metrics (opcode.go, status.go).
//   - Reader: reads whole packets from a buffered stream into a reusable
//     Packet, capping every length field before it allocates. Its errors say
//     whether the stream can continue (reader.go, errors.go). For Duplex
//     connections, ReadClientPacket and ReadServerPacket also accept the
//     server-initiated magics 0x82/0x83 (duplex.go).
//   - Append* builders for the packets a proxy or server writes itself
//     (build.go).
//
// Constants take their values from github.com/couchbase/gomemcached where it
// defines them; this package adds the opcodes and statuses it lacks (TOUCH,
// GATQ, VERBOSITY, GET_CLUSTER_CONFIG, ...) and a codec that does not allocate
// on the hot path. Facts about the protocol are in docs/design.md and
// PROTOCOL.md beside the repository.
package memcached
