package vbmap_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/vbproxy/vbproxy/vbmap"
)

func ExampleParse() {
	config := []byte(`{"rev":1073,"revEpoch":1,"name":"default","nodeLocator":"vbucket",
	 "vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":1,
	   "serverList":["$HOST:11210","10.0.0.2:11210"],
	   "vBucketMap":[[0,1],[0,1],[1,0],[1,0]]},
	 "nodesExt":[{"services":{"mgmt":8091,"kv":11210},"thisNode":true},
	             {"services":{"mgmt":8091,"kv":11210},"hostname":"10.0.0.2"}]}`)
	m, err := vbmap.Parse(config, vbmap.ParseOptions{Host: "10.0.0.1", Origin: vbmap.OriginFetch})
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{"hello", "name", "another key"} {
		vb, node := m.Route([]byte(key))
		fmt.Printf("%s -> vb %d -> %s\n", key, vb, m.Nodes()[node].Addr)
	}
	fmt.Println("revision", m.Revision())
	// Output:
	// hello -> vb 0 -> 10.0.0.1:11210
	// name -> vb 3 -> 10.0.0.2:11210
	// another key -> vb 2 -> 10.0.0.2:11210
	// revision 1/1073
}

func ExampleSource() {
	src, err := vbmap.NewSource(vbmap.SourceOptions{
		Seeds:    []string{"http://127.0.0.1:8091", "http://127.0.0.2:8091"},
		Bucket:   "default",
		User:     "Administrator",
		Password: "password",
	})
	if err != nil {
		log.Fatal(err)
	}
	src.Subscribe(func(old, new *vbmap.Map) {
		if !new.SameRouting(old) {
			log.Printf("routing changed: rev %v, %d nodes", new.Revision(), len(new.Nodes()))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		if err := src.Run(ctx); err != nil {
			log.Print(err) // wrong credentials or bucket
			cancel()
		}
	}()
	select {
	case <-src.Ready():
		m := src.Current() // one atomic load; never blocks
		_, node := m.Route([]byte("user::1234"))
		log.Print("user::1234 lives on ", m.Nodes()[node].Addr)
	case <-ctx.Done():
		log.Print("no map: ", ctx.Err())
	}
}
