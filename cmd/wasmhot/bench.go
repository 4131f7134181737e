package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/bench"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure wasmhot's paths next to wazero's raw floors, in one process",
		Description: "Runs the benchmarks of internal/bench (the same code `go test -bench ./host`\n" +
			"runs) and prints each wasmhot path beside the raw wazero floor for the\n" +
			"same work, measured in the same run, with the ratio, in sandboxed and\n" +
			"trusted mode; then a reload storm: calls per second while 1,000 reloads\n" +
			"(purge + load) are paced over one second, against steady state, the\n" +
			"latency of each reload (median, p99, max) under four callers that never\n" +
			"yield, and failed calls. Single runs on a shared machine are noisy:\n" +
			"compare ratios, and repeat.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the results as JSON"},
			&cli.BoolFlag{Name: "quick", Usage: "short runs (20 ms per case, 200 reloads): a smoke test, not a measurement"},
			&cli.StringFlag{Name: "benchtime", Value: "100ms", Usage: "time per case, as go test's -benchtime (the whole run takes about 30 s per 100 ms)"},
			&cli.StringFlag{Name: "only", Usage: "run only the benchmark groups whose names contain `TEXT` (comma-separated)"},
		},
		Action: func(c *cli.Context) error {
			benchtime, reloads, steady := c.String("benchtime"), 1000, time.Second
			if c.Bool("quick") {
				benchtime, reloads, steady = "20ms", 200, 200*time.Millisecond
			}
			rep, err := runBench(c, benchtime, reloads, steady, c.String("only"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, rep.rows())
			}
			rep.print(c.App.Writer)
			return nil
		},
	}
}

// benchResult is one case.
type benchResult struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"` // the value, in Unit for a metric
	Unit        string  `json:"unit"`
	BytesPerOp  int64   `json:"bytes_per_op"`
	AllocsPerOp int64   `json:"allocs_per_op"`
	N           int     `json:"n"`
}

// benchRatio is a wasmhot path against what it is compared with.
type benchRatio struct {
	What   string  `json:"what"`
	Path   string  `json:"path"`
	Floor  string  `json:"floor"`
	Ratio  float64 `json:"ratio"`
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
	Unit   string  `json:"unit,omitempty"` // of an absolute value (no floor)
}

type benchReport struct {
	Go      string              `json:"go"`
	CPUs    int                 `json:"cpus"`
	Time    string              `json:"benchtime"`
	Results []benchResult       `json:"results"`
	Ratios  []benchRatio        `json:"ratios"`
	Storms  []bench.StormResult `json:"storms"`
}

// collector runs sub-benchmarks with testing.Benchmark.
type collector struct {
	prefix string
	out    *[]benchResult
	log    io.Writer
}

func (c collector) Run(name string, f func(b *testing.B)) bool {
	r := testing.Benchmark(f)
	full := c.prefix + "/" + name
	if r.N == 0 {
		fmt.Fprintf(c.log, "%-45s failed\n", full)
		return false
	}
	res := benchResult{Name: full, NsPerOp: float64(r.T.Nanoseconds()) / float64(r.N), Unit: "ns/op",
		BytesPerOp: r.AllocedBytesPerOp(), AllocsPerOp: r.AllocsPerOp(), N: r.N}
	fmt.Fprintf(c.log, "%-45s %12.1f ns/op\n", full, res.NsPerOp)
	*c.out = append(*c.out, res)
	// Metrics a case reports (a percentile, a count) are cases of their own.
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, unit := k, k
		if n, ok := strings.CutSuffix(k, "-ns"); ok {
			name, unit = n, "ns"
		}
		*c.out = append(*c.out, benchResult{Name: full + "/" + name, NsPerOp: r.Extra[k], Unit: unit, N: r.N})
	}
	return true
}

var initTesting sync.Once

func runBench(c *cli.Context, benchtime string, reloads int, steady time.Duration, only string) (*benchReport, error) {
	initTesting.Do(testing.Init)
	if err := flag.Set("test.benchtime", benchtime); err != nil {
		return nil, err
	}
	rep := &benchReport{Go: runtime.Version(), CPUs: runtime.NumCPU(), Time: benchtime}
	progress := c.App.ErrWriter
	for _, g := range bench.Groups {
		if !selected(g.Name, only) {
			continue
		}
		g.Run(collector{prefix: g.Name, out: &rep.Results, log: progress})
	}
	if selected("Storm", only) {
		for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
			fmt.Fprintf(progress, "Storm/%s: %d reloads under 4 callers...\n", mode, reloads)
			s, err := bench.Storm(c.Context, mode, 4, reloads, steady)
			if err != nil {
				return nil, err
			}
			rep.Storms = append(rep.Storms, s)
		}
	}
	rep.Ratios = ratios(rep.Results)
	return rep, nil
}

func selected(name, only string) bool {
	if only == "" {
		return true
	}
	for _, o := range strings.Split(only, ",") {
		if o != "" && strings.Contains(strings.ToLower(name), strings.ToLower(o)) {
			return true
		}
	}
	return false
}

// benchPairs says what each wasmhot path is compared with, and the target
// ratio where there is one.
var benchPairs = []struct {
	group, path, floor, what, target string
	max                              float64 // the ratio must be <= max (0: none)
	min                              float64 // the ratio must be >= min (0: none)
	mode                             string  // only in this mode ("": both)
}{
	{"CallExt", "wasmhot", "floor_direct", "guest → guest external call from a Go call (link table) vs a raw direct import", "≤ 4", 4, 0, "sandboxed"},
	{"CallExt", "wasmhot_proc", "floor_direct", "guest → guest external call in a process (link table) vs a raw direct import", "≤ 4", 4, 0, "sandboxed"},
	{"CallExt", "wasmhot", "floor", "guest → guest external call from a Go call (host hop: guests run unmodified) vs guest → host → CallWithStack", "", 0, 0, "trusted"},
	{"CallExt", "wasmhot_proc", "floor", "guest → guest external call in a process (host hop) vs the same floor", "", 0, 0, "trusted"},
	{"CallExt", "floor_direct", "floor_local", "reference: a raw direct import vs a raw local call", "", 0, 0, ""},
	{"CallExt", "floor", "floor_direct", "reference: a raw host round trip vs a raw direct import", "", 0, 0, ""},
	{"LocalCall", "wasmhot", "floor", "local call inside a guest (reference)", "", 0, 0, ""},
	{"Loop", "wasmhot", "floor", "CPU-bound guest loop, 12 instructions per iteration, vs raw wazero without interruption", "≤ 1.3", 1.3, 0, ""},
	{"Loop", "floor_closeondone", "floor", "reference: the same loop with wazero's WithCloseOnContextDone vs without", "", 0, 0, ""},
	{"EmptyLoop", "wasmhot", "floor", "empty loop, 5 instructions per iteration (worst case of a check per iteration)", "", 0, 0, ""},
	{"Recursion", "wasmhot", "floor", "recursive calls, fib(20) from Go", "≤ 1.3", 1.3, 0, ""},
	{"Kill", "wasmhot/p99", "", "kill of a process spinning in Wasm, Kill to Wait, p99", "≤ 1 ms", 1e6, 0, ""},
	{"Kill", "wasmhot", "floor_receive", "kill of a spinning process vs of one blocked in receive, mean", "", 0, 0, ""},
	{"GC", "wasmhot/maxpause", "", "longest GC stop-the-world pause while two guests spin", "≤ 10 ms", 1e7, 0, ""},
	{"GC", "wasmhot", "floor_go_spin", "runtime.GC() while two guests spin vs while two goroutines spin in Go", "", 0, 0, ""},
	{"Fuel", "wasmhot_work/distinct", "", "distinct fuel counts over every run of the same process", "= 1", 1, 1, ""},
	{"HostCall", "wasmhot_self", "floor_empty", "guest → host ABI call (self) vs an empty host function", "", 0, 0, ""},
	{"GoCall", "wasmhot_stack", "floor_CallWithStack", "Go → guest Func.CallWithStack vs raw CallWithStack", "≤ 1.5", 1.5, 0, ""},
	{"GoCall", "wasmhot", "floor_CallWithStack", "Go → guest Func.Call vs raw CallWithStack", "", 0, 0, ""},
	{"GoCall", "wasmhot", "floor_Call", "Go → guest Func.Call vs raw Call", "", 0, 0, ""},
	{"Spawn", "wasmhot", "floor", "spawn + exit of a process vs raw instantiate + close", "≤ 1.3", 1.3, 0, ""},
	{"Spawn", "wasmhot", "floor_go_call", "spawn + exit vs instantiate + goroutine + call + close", "", 0, 0, ""},
	{"MessageRoundTrip", "wasmhot", "floor", "message round trip between two processes vs raw ping-pong", "≤ 1.5", 1.5, 0, ""},
	{"Switch", "modules=1000", "modules=1", "switch (finish) with 1,000 modules vs with 1", "≤ 1.2", 1.2, 0, ""},
	{"Modules", "processes=4000", "processes=0", "Host.Modules() with 500 modules: beside 4,000 processes vs none", "≤ 1.5", 1.5, 0, ""},
	{"Load", "wasmhot_cold", "floor_compile_miss", "load, cold vs raw CompileModule miss", "", 0, 0, ""},
	{"Load", "wasmhot_hit", "floor_compile_hit", "load, compile-cache hit vs raw CompileModule hit", "", 0, 0, ""},
	{"Load", "wasmhot_cold", "wasmhot_hit", "cold load ÷ compile-cache-hit load (speed-up)", "≥ 10", 0, 10, ""},
	{"LoadRestart", "wasmhot_dircache", "", "load after a restart with a persistent cache (ns/op)", "", 0, 0, ""},
}

func ratios(results []benchResult) []benchRatio {
	ns := map[string]float64{}
	units := map[string]string{}
	for _, r := range results {
		ns[r.Name] = r.NsPerOp
		units[r.Name] = r.Unit
	}
	var out []benchRatio
	for _, mode := range []string{"sandboxed", "trusted"} {
		for _, p := range benchPairs {
			if p.mode != "" && p.mode != mode {
				continue
			}
			path := p.group + "/" + mode + "/" + p.path
			a, ok := ns[path]
			if !ok {
				continue
			}
			br := benchRatio{What: p.what + " [" + mode + "]", Path: path, Target: p.target}
			if p.floor == "" {
				br.Ratio, br.Unit = a, strings.TrimSuffix(units[path], "/op")
			} else {
				floor := p.group + "/" + mode + "/" + p.floor
				f, ok := ns[floor]
				if !ok || f == 0 {
					continue
				}
				br.Floor, br.Ratio = floor, a/f
			}
			if p.max > 0 || p.min > 0 {
				met := (p.max == 0 || br.Ratio <= p.max) && (p.min == 0 || br.Ratio >= p.min)
				br.Met = &met
			}
			out = append(out, br)
		}
	}
	return out
}

// benchRow is one row of `wasmhot bench --json`: a measured value and,
// where the row is compared with something, the floor's name, the ratio,
// the target and whether it is met. Absent fields are null.
type benchRow struct {
	Name   string   `json:"name"`
	Value  float64  `json:"value"`
	Unit   string   `json:"unit"`
	Floor  *string  `json:"floor"`
	Ratio  *float64 `json:"ratio"`
	Target *string  `json:"target"`
	Met    *bool    `json:"met"`
}

// rows flattens the report: every case (with its primary comparison, the
// first of benchPairs that names it), the derived ratios that are not a
// case's (the cache speed-up), and the storms.
func (r *benchReport) rows() []benchRow {
	primary := map[string]benchRatio{}
	var derived []benchRatio
	for _, br := range r.Ratios {
		if strings.HasSuffix(br.Floor, "/wasmhot_hit") {
			derived = append(derived, br)
			continue
		}
		if _, ok := primary[br.Path]; !ok && (br.Floor != "" || br.Target != "") {
			primary[br.Path] = br
		}
	}
	var out []benchRow
	for _, res := range r.Results {
		row := benchRow{Name: res.Name, Value: res.NsPerOp, Unit: res.Unit}
		if br, ok := primary[res.Name]; ok {
			row.Met = br.Met
			if br.Floor != "" { // else the target is on the value itself
				floor, ratio := br.Floor, br.Ratio
				row.Floor, row.Ratio = &floor, &ratio
			}
			if br.Target != "" {
				target := br.Target
				row.Target = &target
			}
		}
		out = append(out, row)
	}
	for _, br := range derived {
		name := strings.TrimSuffix(br.Path, "/wasmhot_cold") + "/cold_over_hit"
		floor, ratio, target := br.Floor, br.Ratio, br.Target
		out = append(out, benchRow{Name: name, Value: br.Ratio, Unit: "x", Floor: &floor, Ratio: &ratio, Target: &target, Met: br.Met})
	}
	for _, s := range r.Storms {
		tput, tgt := s.Ratio, "≥ 0.8"
		met := s.Ratio >= 0.8
		out = append(out,
			benchRow{Name: "Storm/" + s.Mode + "/calls_per_sec_steady", Value: s.SteadyPerSec, Unit: "calls/s"},
			benchRow{Name: "Storm/" + s.Mode + "/calls_per_sec_during_reloads", Value: s.StormPerSec, Unit: "calls/s", Ratio: &tput, Target: &tgt, Met: &met})
		zero, none := "= 0", s.FailedCalls == 0
		out = append(out, benchRow{Name: "Storm/" + s.Mode + "/failed_calls", Value: float64(s.FailedCalls), Unit: "calls", Target: &zero, Met: &none})
		medTgt, p99Tgt := "≤ 1 ms", "≤ 20 ms"
		medMet, p99Met := s.ReloadMedian <= time.Millisecond, s.ReloadP99 <= 20*time.Millisecond
		out = append(out,
			benchRow{Name: "Storm/" + s.Mode + "/reload_median", Value: float64(s.ReloadMedian.Nanoseconds()), Unit: "ns", Target: &medTgt, Met: &medMet},
			benchRow{Name: "Storm/" + s.Mode + "/reload_p99", Value: float64(s.ReloadP99.Nanoseconds()), Unit: "ns", Target: &p99Tgt, Met: &p99Met},
			benchRow{Name: "Storm/" + s.Mode + "/reload_max", Value: float64(s.ReloadMax.Nanoseconds()), Unit: "ns"})
	}
	return out
}

func (r *benchReport) print(w io.Writer) {
	fmt.Fprintf(w, "wasmhot bench: %s, %d CPUs, %s per case\n\n", r.Go, r.CPUs, r.Time)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tNS/OP\tB/OP\tALLOCS/OP")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%.1f\t%d\t%d\n", res.Name, res.NsPerOp, res.BytesPerOp, res.AllocsPerOp)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RATIO\tTARGET\tMET\tWHAT")
	for _, br := range r.Ratios {
		met := ""
		if br.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*br.Met]
		}
		val := fmt.Sprintf("%.2f×", br.Ratio)
		if br.Floor == "" {
			val = fmt.Sprintf("%.0f %s", br.Ratio, br.Unit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", val, br.Target, met, br.What)
	}
	tw.Flush()
	if len(r.Storms) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STORM\tRELOADS\tSTEADY CALLS/S\tCALLS/S IN STORM\tRATIO (≥ 0.8)\tFAILED (= 0)\tRELOAD MEDIAN (≤ 1ms)\tP99 (≤ 20ms)\tMAX\tSTORM TOOK")
		for _, s := range r.Storms {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2f\t%d\t%v\t%v\t%v\t%s\n", s.Mode, s.Reloads, s.SteadyPerSec, s.StormPerSec, s.Ratio, s.FailedCalls,
				s.ReloadMedian.Round(time.Microsecond), s.ReloadP99.Round(time.Microsecond), s.ReloadMax.Round(time.Microsecond), s.StormDuration)
		}
		tw.Flush()
	}
}
