package proxy

import (
	"fmt"

	"github.com/vbproxy/vbproxy/memcached"
)

// Replica reads.
//
// With Options.ReadReplicas = ReplicasOnFailure, a read (GET, GETK and
// their quiet twins, text get and mg without T) whose active node is down,
// does not answer in time or is missing from the map (failing over) is sent
// as GET_REPLICA to the replicas of its vBucket, one after the other, within
// the same operation timeout: the first reply that is a hit or a miss is
// returned. The active node gets the first half of the operation timeout,
// the replicas the rest. Writes never go to replicas, and a reply from a
// healthy active (a miss, NOT_MY_VBUCKET) is never replaced by a replica's.

// ReplicaPolicy says when reads may be served by replicas.
type ReplicaPolicy uint8

// Replica policies (config words never, on_failure).
const (
	ReplicasNever ReplicaPolicy = iota
	ReplicasOnFailure
)

// String returns the config word.
func (p ReplicaPolicy) String() string {
	if p == ReplicasOnFailure {
		return "on_failure"
	}
	return "never"
}

// ReplicaObserver is an optional Observer method: an Observer that
// implements it is told of each read a replica answered.
type ReplicaObserver interface {
	ReplicaRead(node string)
}

const msgNoReplica = "Temporary failure: node down and no replica answered"

// replicaEligible reports whether sl may be sent to a replica now.
func (sl *slot) replicaEligible() bool {
	s := sl.sess
	return s.lst.ReadReplicas == ReplicasOnFailure && s.srv.o.Bucket != "" && !sl.replica &&
		upstreamOp(sl.op) == memcached.OpGet && !s.closed && s.ls.lp.Now() < sl.deadline
}

// activeDeadline is the deadline of a read's attempt on its active node:
// half the operation timeout when replicas may take over, so that they have
// the other half.
func (sl *slot) activeDeadline() int64 {
	if sl.sess.lst.ReadReplicas == ReplicasOnFailure && upstreamOp(sl.op) == memcached.OpGet {
		return sl.start + int64(sl.sess.srv.o.OperationTimeout)/2
	}
	return sl.deadline
}

// readReplica sends sl to its vBucket's next replica. It returns false when
// no replica is left to try (or none is connected). The slot stays in
// flight for its vBucket.
func (sl *slot) readReplica() bool {
	s := sl.sess
	m := s.srv.o.Map.Current()
	if m == nil {
		return false
	}
	vb := sl.routeVB(m)
	reps := m.Replicas(vb)
	for sl.replicaIdx < len(reps) {
		node := reps[sl.replicaIdx]
		sl.replicaIdx++
		c := s.ls.conn(s.set, m, node)
		if c == nil || !c.Up() {
			continue
		}
		pkt := sl.pkt.Bytes()
		memcached.SetOpcode(pkt, memcached.OpGetReplica)
		memcached.SetVBucket(pkt, vb)
		sl.req.Packet = pkt
		sl.req.Deadline = sl.deadline
		if c.Send(&sl.req) != nil {
			continue
		}
		sl.replicaRead = true
		sl.sentMap, sl.sentAddr = m, m.Nodes()[node].Addr
		s.retarget(sl, sl.sentAddr)
		s.log.Debug("read sent to a replica", "vbucket", vb, "replica", sl.sentAddr, "replica_index", sl.replicaIdx)
		return true
	}
	return false
}

// replicaReply handles the reply to a replica read: a hit or a miss is the
// answer (true); anything else tries the next replica or fails.
func (sl *slot) replicaReply(st memcached.Status, node string) bool {
	switch st {
	case memcached.StatusSuccess, memcached.StatusKeyENOENT:
		if ro, ok := sl.sess.srv.obs.(ReplicaObserver); ok {
			ro.ReplicaRead(node)
		}
		sl.sess.srv.replicaReads.Add(1)
		return true
	}
	if !sl.readReplica() {
		sl.sess.settle(sl)
		sl.fail(memcached.StatusETMPFAIL, fmt.Sprintf("%s (replica said %s)", msgNoReplica, st))
	}
	return false
}
