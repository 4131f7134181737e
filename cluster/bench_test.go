package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/natstest"
)

// BenchmarkRollout times a cluster reload of one module (counter, 12 KiB)
// to 1, 4 and 16 nodes in this process, on an embedded NATS server: one op
// is one whole rollout (upload, lock, prepare, decision, finish, unlock).
// The metrics split it: prepare-ms and finish-ms are the two phases as
// the coordinator saw them, spread-ms the time between the first and the
// last node's switch.
//
//	go test -run '^$' -bench Rollout -count 6 ./cluster
func BenchmarkRollout(b *testing.B) {
	for _, nodes := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			s := natstest.StartNATS(b)
			ms := make([]*member, nodes)
			for i := range ms {
				ms[i] = join(b, s.ClientURL(), fmt.Sprintf("n%d", i), host.NewConfig())
			}
			versions := make([][]byte, 64)
			for i := range versions {
				versions[i] = counterVsn(b, uint32(i+1))
			}
			var prepare, finish, spread time.Duration
			i := 0
			for b.Loop() {
				rep, err := ms[0].n.Load(ctx, []host.Source{{Name: "counter", Wasm: versions[i%len(versions)]}}, true)
				if err != nil {
					b.Fatal(err)
				}
				if len(rep.Nodes) != nodes {
					b.Fatalf("%d nodes switched, want %d", len(rep.Nodes), nodes)
				}
				prepare += rep.Prepare
				finish += rep.Finish
				spread += rep.Spread
				i++
			}
			per := func(d time.Duration) float64 { return float64(d) / float64(i) / 1e6 }
			b.ReportMetric(per(prepare), "prepare-ms")
			b.ReportMetric(per(finish), "finish-ms")
			b.ReportMetric(per(spread), "spread-ms")
		})
	}
}
