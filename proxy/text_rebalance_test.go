package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/sim"
)

// runTextLoad is runLoad for a text client: each round stores a new key
// and reads it back with a multi-get of the last keys it stored (keys on
// several nodes), checking every VALUE in key order, until stop.
func runTextLoad(addr string, id int, stop <-chan struct{}, res *loadResult) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		res.errors = append(res.errors, err.Error())
		return
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		key := fmt.Sprintf("tload-%d-%d", id, seq)
		// The new key first, then up to 7 acknowledged ones, newest first.
		get := []string{key}
		for i := len(res.acked) - 1; i >= 0 && len(get) < 8; i-- {
			get = append(get, res.acked[i])
		}
		var want strings.Builder
		want.WriteString("STORED\r\n")
		for _, k := range get {
			fmt.Fprintf(&want, "VALUE %s 0 %d\r\n%s\r\n", k, len(k), k)
		}
		want.WriteString("END\r\n")
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(conn, "set %s 0 0 %d\r\n%s\r\nget %s\r\n", key, len(key), key, strings.Join(get, " ")); err != nil {
			res.errors = append(res.errors, err.Error())
			return
		}
		first, err := r.ReadString('\n')
		if err != nil {
			res.errors = append(res.errors, err.Error())
			return
		}
		if first != "STORED\r\n" {
			// Read the rest of the round (the get line) to stay in step.
			res.errors = append(res.errors, fmt.Sprintf("set %s: %q", key, first))
			if err := skipToEnd(r); err != nil {
				res.errors = append(res.errors, err.Error())
				return
			}
			continue
		}
		res.acked = append(res.acked, key)
		rest := make([]byte, want.Len()-len(first))
		if _, err := io.ReadFull(r, rest); err != nil {
			res.errors = append(res.errors, err.Error())
			return
		}
		if got := first + string(rest); got != want.String() {
			res.errors = append(res.errors, fmt.Sprintf("round %d: got %q, want %q", seq, got, want.String()))
			return // out of step: the rest of the stream cannot be checked
		}
	}
}

// skipToEnd reads reply lines up to and including END.
func skipToEnd(r *bufio.Reader) error {
	for {
		l, err := r.ReadString('\n')
		if err != nil || l == "END\r\n" {
			return err
		}
	}
}

// TestTextRebalanceUnderLoad adds a node and rebalances, then ejects one,
// while 50 text clients store keys and read them back with multi-gets
// that span the nodes: no client sees an error, and every acknowledged
// write is readable afterwards, on the cluster and through the proxy.
func TestTextRebalanceUnderLoad(t *testing.T) {
	c, srv, addr, src := simCluster(t, sim.Options{RebalanceBatch: 32}, Options{})
	const clients = 50
	stop := make(chan struct{})
	results := make([]loadResult, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { runTextLoad(addr, i, stop, &results[i]) })
	}
	time.Sleep(100 * time.Millisecond) // load before the topology changes
	n, err := c.AddNode()
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	must(t, c.Rebalance(ctx))
	must(t, c.Rebalance(ctx, c.Nodes()[0]))
	waitMapRev(t, src, c.Revision())
	close(stop)
	wg.Wait()

	total := loadErrors(t, results)
	if total < clients {
		t.Fatalf("%d writes acknowledged, want at least one per client", total)
	}
	ackedOnCluster(t, c, results)
	cl := dialText(t, addr)
	for _, r := range results {
		// Every acknowledged key of the client in one multi-get.
		var want strings.Builder
		for _, k := range r.acked {
			want.WriteString(value(k, k))
		}
		cl.do("get "+strings.Join(r.acked, " ")+"\r\n", want.String()+"END\r\n")
	}
	nodes := srv.Nodes()
	if len(nodes) != 3 || !hasNode(nodes, n.KVAddr()) {
		t.Errorf("Nodes() = %+v, want the 3 members including %s", nodes, n.KVAddr())
	}
	t.Logf("%d writes acknowledged, %d NOT_MY_VBUCKET retries", total, srv.Stats().NMVBRetries)
}
