package cluster_test

import (
	"context"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"

	"github.com/wasmhot/wasmhot/cluster"
	"github.com/wasmhot/wasmhot/cluster/natsembed"
	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

// Two hosts join a fleet on an embedded NATS server; one of them rolls a
// module out, and both run it.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "fleet")
	defer os.RemoveAll(dir)
	srv, err := natsembed.Start(natsembed.Options{Addr: "127.0.0.1:0", StoreDir: dir})
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown()

	var nodes []*cluster.Node
	for _, name := range []string{"east", "west"} {
		h, err := host.New(ctx, host.NewConfig())
		if err != nil {
			panic(err)
		}
		defer h.Close(ctx)
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			panic(err)
		}
		defer nc.Close()
		n, err := cluster.Join(ctx, h, nc, name, cluster.Options{})
		if err != nil {
			panic(err)
		}
		defer n.Close()
		nodes = append(nodes, n)
	}

	rep, err := nodes[0].Load(ctx, []host.Source{{Name: "counter", Wasm: guestexamples.Wasm("counter_v2")}}, false)
	if err != nil {
		panic(err)
	}
	for _, r := range rep.Nodes {
		fmt.Println(r.Node, "switched:", r.Switched())
	}
	for _, n := range nodes {
		res, err := n.Host().Call(ctx, "counter", "version")
		if err != nil {
			panic(err)
		}
		fmt.Println(n.Name(), "runs counter version", res[0])
	}
	// Output:
	// east switched: true
	// west switched: true
	// east runs counter version 2
	// west runs counter version 2
}
