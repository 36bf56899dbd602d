package proxy

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// TestReplicaReadsOnFailure: with the active node of some vBuckets paused,
// reads of them succeed from replicas within the operation timeout when
// ReadReplicas is on_failure (binary and text); with never they fail with
// ETMPFAIL as before; writes never go to replicas; a miss on a healthy
// active stays a miss.
func TestReplicaReadsOnFailure(t *testing.T) {
	const opTimeout = time.Second
	for _, policy := range []ReplicaPolicy{ReplicasOnFailure, ReplicasNever} {
		t.Run(policy.String(), func(t *testing.T) {
			c, srv, addr, _ := simCluster(t, sim.Options{Replicas: 1}, Options{ReadReplicas: policy, OperationTimeout: opTimeout})
			paused := c.Nodes()[1]
			var keys []string
			for i := 0; len(keys) < 5; i++ {
				k := fmt.Sprintf("rep-%d", i)
				if c.VBucketOwner("default", int(vbmap.VBucket([]byte(k), c.NumVBuckets()))) == paused {
					keys = append(keys, k)
				}
			}
			cl := dial(t, addr)
			for _, k := range keys {
				cl.set(k, "v-"+k)
			}
			waitFor(t, func() bool { // replication is asynchronous in the simulator too
				for _, k := range keys {
					if _, ok := c.ReplicaGet("default", []byte(k), 1); !ok {
						return false
					}
				}
				return true
			})
			if v, st := cl.get("rep-missing-on-healthy"); st != memcached.StatusKeyENOENT {
				t.Fatalf("a miss: %q %v", v, st)
			}
			c.Pause(paused)
			defer c.Resume(paused)
			tc, err := net.Dial("tcp", addr)
			must(t, err)
			defer tc.Close()
			tr := bufio.NewReader(tc)
			for _, k := range keys {
				start := time.Now()
				v, st := cl.get(k)
				took := time.Since(start)
				if took > opTimeout+200*time.Millisecond {
					t.Errorf("GET %s took %v, past the operation timeout %v", k, took, opTimeout)
				}
				_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
				fmt.Fprintf(tc, "get %s\r\n", k)
				line, _ := tr.ReadString('\n')
				switch policy {
				case ReplicasOnFailure:
					if st != memcached.StatusSuccess || v != "v-"+k {
						t.Errorf("GET %s with the active paused: %q %v, want the replica's value", k, v, st)
					}
					data, _ := tr.ReadString('\n')
					end, _ := tr.ReadString('\n')
					if line != fmt.Sprintf("VALUE %s 0 %d\r\n", k, len("v-"+k)) || data != "v-"+k+"\r\n" || end != "END\r\n" {
						t.Errorf("text get %s: %q %q %q", k, line, data, end)
					}
				default:
					if st != memcached.StatusETMPFAIL {
						t.Errorf("GET %s with the active paused: %v, want ETMPFAIL", k, st)
					}
					// Like memcached's own proxy: the failed key's error line, then END.
					end, _ := tr.ReadString('\n')
					if !strings.HasPrefix(line, "SERVER_ERROR temporary failure") || end != "END\r\n" {
						t.Errorf("text get %s: %q %q, want SERVER_ERROR temporary failure... then END", k, line, end)
					}
				}
			}
			// A write is never sent to a replica.
			cl.write(req(memcached.OpSet, 9, setExtras(0, 0), []byte(keys[0]), []byte("new")))
			if h, _ := cl.read(); h.Status != memcached.StatusETMPFAIL {
				t.Errorf("SET with the active paused: %v, want ETMPFAIL", h.Status)
			}
			want := uint64(0)
			if policy == ReplicasOnFailure {
				want = uint64(2 * len(keys))
			}
			if got := srv.Stats().ReplicaReads; got != want {
				t.Errorf("ReplicaReads = %d, want %d", got, want)
			}
		})
	}
}
