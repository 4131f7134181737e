// Command soak runs a wasmhot node under hostile guests and clients for a
// while and reports whether it held: its resident memory against its
// memory budget, how fast it answered `modules` throughout, and whether it
// panicked. It is opt-in, not part of the test suite:
//
//	go run ./internal/soak -duration 10m -budget 512MiB -clients 200
//
// It builds the wasmhot command, serves a node with the budget on a Unix
// socket and a loopback TCP port, loads the hostile guests (hog: memory,
// mailbox, state, spawn and log floods; selfrec: unbounded external
// recursion; cpu and spinner: spinning code), and runs the clients. Each
// client loops over a random mix of requests: spawning and killing the
// hostile processes, Go calls that grow memory until refused, recursion,
// spinning calls cut off by their timeout, large sends, reloads and purges,
// corrupt modules, huge names, unknown names and pids. Beside them, slow
// attackers hold TCP connections with half-sent bodies and without the
// token. A monitor samples the node's RSS (VmRSS) every 100 ms, and a
// probe, a process of its own as an operator's client would be, times
// `modules` every 100 ms. The clients stand for clients on other
// machines: they run at a lower priority (-nice, 10 by default) than the
// node and the probe, so that on a machine of two cores the load
// generator does not take the CPUs from what it measures.
//
// It exits 1 when the node's RSS went past the budget plus a quarter, a
// `modules` took longer than 100 ms, the node died or logged a panic, or a
// client got an answer that is not one of the API's error codes.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wasmhot/wasmhot/control"
	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
)

func main() {
	duration := flag.Duration("duration", 10*time.Minute, "how long the clients run")
	budgetFlag := flag.String("budget", "512MiB", "the node's --memory-budget")
	clients := flag.Int("clients", 200, "concurrent clients")
	slow := flag.Int("slow", 20, "slow attackers holding TCP connections")
	nice := flag.Int("nice", 10, "the clients' niceness (0: the node's priority); the node and the probe keep theirs")
	skipFlag := flag.String("skip", "", "comma-separated kinds of request the clients do not make (see the report)")
	hostileFlag := flag.String("hostile", strings.Join(hostile, ","), "the hog entry points the spawn requests start")
	probeSock := flag.String("probe", "", "(internal) time `modules` on the node at SOCKET every 100 ms, one line per request, until stdin closes")
	flag.Parse()
	hostile = strings.Split(*hostileFlag, ",")
	if *probeSock != "" {
		probe(*probeSock)
		return
	}
	for _, k := range strings.Split(*skipFlag, ",") {
		if k != "" {
			skip[k] = true
		}
	}
	budget, err := parseMiB(*budgetFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	ok, err := run(*duration, *budgetFlag, budget, *clients, *slow, *nice)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// probe is the process that times `modules`: an operator's client, apart
// from the clients' process, so that what it sees is the node's latency,
// not the load generator's. It prints each time in nanoseconds, or "ERR"
// and the error.
func probe(sock string) {
	c, err := control.Dial(sock, "")
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	for {
		select {
		case <-stdinClosed:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		_, err := c.Modules(ctx)
		d := time.Since(t0)
		cancel()
		if err != nil {
			fmt.Println("ERR", err)
			continue
		}
		fmt.Println(d.Nanoseconds())
	}
}

// lowerPriority sets the niceness of every thread of this process (Linux
// keeps it per thread; threads made later inherit it from the thread that
// makes them), so that the load generator, which stands for clients on
// other machines, does not take the CPUs from the node it measures. Two
// rounds catch a thread started during the first.
func lowerPriority(niceness int) error {
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("-nice: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, niceness); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("-nice %d: thread %d: %w", niceness, tid, err)
			}
		}
	}
	return nil
}

// parseMiB reads the budget (NMiB or NGiB) for the report.
func parseMiB(s string) (int64, error) {
	for suffix, mult := range map[string]int64{"MiB": 1 << 20, "GiB": 1 << 30} {
		if rest, ok := strings.CutSuffix(s, suffix); ok {
			n, err := strconv.ParseInt(rest, 10, 64)
			if err == nil && n > 0 {
				return n * mult, nil
			}
		}
	}
	return 0, fmt.Errorf("-budget %q: want NMiB or NGiB", s)
}

type node struct {
	cmd    *exec.Cmd
	sock   string
	addr   string
	stderr *lockedBuf
	exited chan error
}

type lockedBuf struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) < 1<<20 {
		b.buf = append(b.buf, p...)
	}
	return len(p), nil
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// lineCounter counts the node's stdout (guest log lines) without keeping
// them, watching for panics.
type lineCounter struct {
	lines, panics atomic.Int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines.Add(int64(strings.Count(string(p), "\n")))
	if strings.Contains(string(p), "panic:") || strings.Contains(string(p), "fatal error:") {
		c.panics.Add(1)
	}
	return len(p), nil
}

func startNode(dir, budget string, out io.Writer) (*node, error) {
	bin := filepath.Join(dir, "wasmhot")
	build := exec.Command("go", "build", "-o", bin, "./cmd/wasmhot")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build wasmhot (run from the module's root): %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("soak-token-0123456789\n"), 0o600); err != nil {
		return nil, err
	}
	n := &node{sock: filepath.Join(dir, "n.sock"), addr: addr, stderr: &lockedBuf{}, exited: make(chan error, 1)}
	n.cmd = exec.Command(bin, "serve", "--socket", n.sock, "--listen", addr, "--token-file", token,
		"--memory-budget", budget, "--memory-pages", "4096", "--call-timeout", "2s", "--max-processes", "20000")
	n.cmd.Stdout, n.cmd.Stderr = out, n.stderr
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { n.exited <- n.cmd.Wait() }()
	c, err := control.Dial(n.sock, "")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Wait(context.Background(), 10*time.Second); err != nil {
		return nil, fmt.Errorf("node did not come up: %w\n%s", err, n.stderr)
	}
	return n, nil
}

// rss reads the node's resident set size.
func (n *node) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return -1
}

// stats are the counts of one run.
type stats struct {
	mu         sync.Mutex
	ops        map[string]int
	codes      map[string]int
	unexpected []string
}

func (s *stats) record(op string, err error) {
	code := "ok"
	var ce *control.Error
	switch {
	case err == nil:
	case errors.As(err, &ce):
		code = ce.Code
	default:
		code = "transport"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[op]++
	s.codes[code]++
	if code == "internal" || (code == "transport" && !errors.Is(err, context.Canceled)) {
		if len(s.unexpected) < 20 {
			s.unexpected = append(s.unexpected, fmt.Sprintf("%s: %v", op, err))
		}
	}
}

var wasm = guestexamples.Wasm

func run(d time.Duration, budgetFlag string, budget int64, clients, slow, niceness int) (bool, error) {
	dir, err := os.MkdirTemp("", "wasmhot-soak")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	out := &lineCounter{}
	n, err := startNode(dir, budgetFlag, out)
	if err != nil {
		return false, err
	}
	defer func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
		}
	}()
	admin, err := control.Dial(n.sock, "")
	if err != nil {
		return false, err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if _, err := admin.Load(ctx, control.LoadRequest{Modules: []control.ModuleSource{
		{Name: "hog", Wasm: wasm("hog")}, {Name: "selfrec", Wasm: wasm("selfrec")},
		{Name: "cpu", Wasm: wasm("cpu")}, {Name: "spinner", Wasm: wasm("spinner")},
		{Name: "counter", Wasm: wasm("counter_v1")},
	}}); err != nil {
		return false, fmt.Errorf("load the guests: %w", err)
	}
	fmt.Printf("soak: node pid %d, budget %s, %d clients, %d slow attackers at nice %d, %v\n", n.cmd.Process.Pid, budgetFlag, clients, slow, niceness, d)

	// The monitor: RSS here, `modules` in a process of its own, started
	// before this process lowers its priority, which children inherit.
	probeCmd := exec.Command(os.Args[0], "-probe", n.sock)
	probeIn, err := probeCmd.StdinPipe()
	if err != nil {
		return false, err
	}
	probeOut, err := probeCmd.StdoutPipe()
	if err != nil {
		return false, err
	}
	if err := probeCmd.Start(); err != nil {
		return false, err
	}
	if niceness != 0 {
		if err := lowerPriority(niceness); err != nil {
			return false, err
		}
	}
	runCtx, stop := context.WithTimeout(ctx, d)
	defer stop()
	st := &stats{ops: map[string]int{}, codes: map[string]int{}}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { client(runCtx, n, i, st) })
	}
	for i := range slow {
		wg.Go(func() { slowAttacker(runCtx, n.addr, i) })
	}
	samples := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(probeOut)
		for sc.Scan() {
			samples <- sc.Text()
		}
		close(samples)
	}()
	var maxRSS int64
	var lat []time.Duration
	var down error
	tick := time.NewTicker(100 * time.Millisecond)
	report := time.NewTicker(30 * time.Second)
	start := time.Now()
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case err := <-n.exited:
			down = fmt.Errorf("the node exited: %v\n%s", err, n.stderr)
			break loop
		case <-report.C:
			fmt.Printf("soak: %v: rss now %d MiB, max %d MiB; %d requests\n", time.Since(start).Round(time.Second), n.rss()>>20, maxRSS>>20, sum(st))
		case <-tick.C:
			maxRSS = max(maxRSS, n.rss())
		case line, ok := <-samples:
			if !ok {
				down = errors.New("the probe process ended")
				break loop
			}
			ns, err := strconv.ParseInt(line, 10, 64)
			if err != nil {
				down = fmt.Errorf("modules: %s", line)
				break loop
			}
			lat = append(lat, time.Duration(ns))
		}
	}
	probeIn.Close()
	_ = probeCmd.Wait()
	stop()
	wg.Wait()

	// The node after the storm: still answering, then a clean stop.
	procs, perr := admin.Procs(ctx, false)
	_, merr := admin.Modules(ctx)
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	var exitErr error
	select {
	case exitErr = <-n.exited:
	case <-time.After(30 * time.Second):
		exitErr = errors.New("did not stop within 30 s of SIGTERM")
		_ = n.cmd.Process.Kill()
	}

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	limitRSS := budget + budget/4
	panics := out.panics.Load()
	if strings.Contains(n.stderr.String(), "panic:") || strings.Contains(n.stderr.String(), "fatal error:") {
		panics++
	}
	fmt.Printf("soak: %v, %d requests, %d guest log lines\n", time.Since(start).Round(time.Second), sum(st), out.lines.Load())
	fmt.Printf("soak: max RSS %d MiB (limit %d MiB: budget + 25%%)\n", maxRSS>>20, limitRSS>>20)
	fmt.Printf("soak: modules latency over %d samples: median %v, p99 %v, max %v (limit 100ms)\n", len(lat), pct(0.5), pct(0.99), pct(1).Round(time.Microsecond))
	fmt.Printf("soak: panics %d; live processes at the end %d (%v); modules after: %v; exit: %v\n", panics, len(procs), perr, merr, exitErr)
	fmt.Printf("soak: requests by kind: %s\n", counts(st.ops))
	fmt.Printf("soak: answers by code: %s\n", counts(st.codes))
	ok := true
	fail := func(format string, args ...any) {
		ok = false
		fmt.Printf("soak: FAIL: "+format+"\n", args...)
	}
	if down != nil {
		fail("%v", down)
	}
	if maxRSS > limitRSS {
		fail("max RSS %d MiB over %d MiB", maxRSS>>20, limitRSS>>20)
	}
	if pct(1) > 100*time.Millisecond {
		fail("a modules request took %v", pct(1))
	}
	if panics > 0 {
		fail("%d panics", panics)
	}
	if perr != nil || merr != nil || exitErr != nil {
		fail("after the run: procs %v, modules %v, exit %v", perr, merr, exitErr)
	}
	for _, u := range st.unexpected {
		fail("unexpected answer: %s", u)
	}
	if ok {
		fmt.Println("soak: PASS")
	}
	return ok, nil
}

func sum(st *stats) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, v := range st.ops {
		n += v
	}
	return n
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return b.String()
}

// hugeName is the function name of the huge-name calls, 1 MiB.
var hugeName = strings.Repeat("f", 1<<20)

// skip holds the kinds of request the clients leave out (-skip).
var skip = map[string]bool{}

var hostile = []string{"run", "flood", "statehog", "spawner", "spam", "idle"}

// client runs a random mix of requests until ctx ends. Odd clients use
// the TCP port with the token, even ones the socket.
func client(ctx context.Context, n *node, id int, st *stats) {
	node, token := n.sock, ""
	if id%2 == 1 {
		node, token = "tcp:"+n.addr, "soak-token-0123456789"
	}
	c, err := control.Dial(node, token)
	if err != nil {
		st.record("dial", err)
		return
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(uint64(id), 1))
	var mine []string
	spawn := func(ctx context.Context, mod, fn string) error {
		pid, err := c.Spawn(ctx, control.SpawnRequest{Module: mod, Function: fn})
		if err == nil {
			mine = append(mine, pid)
		}
		return err
	}
	counterV := []string{"counter_v1", "counter_v2", "counter_v3"}
	big := make([]byte, 1<<20) // the large messages' bytes, never changed
	ops := []struct {
		weight int
		name   string
		do     func(ctx context.Context) error
	}{
		{15, "spawn", func(ctx context.Context) error { return spawn(ctx, "hog", hostile[rng.IntN(len(hostile))]) }},
		{10, "kill", func(ctx context.Context) error {
			if len(mine) == 0 {
				return nil
			}
			i := rng.IntN(len(mine))
			pid := mine[i]
			mine = slices.Delete(mine, i, i+1)
			_, err := c.Kill(ctx, pid)
			return err
		}},
		{7, "call-grow", func(ctx context.Context) error {
			_, err := c.Call(ctx, control.CallRequest{Module: "hog", Function: "grow"})
			return err
		}},
		{5, "call-selfrec", func(ctx context.Context) error {
			_, err := c.Call(ctx, control.CallRequest{Module: "selfrec", Function: "f", Args: []string{"0"}})
			return err
		}},
		{3, "call-spin", func(ctx context.Context) error {
			_, err := c.Call(ctx, control.CallRequest{Module: "cpu", Function: "spin", TimeoutMs: 50})
			return err
		}},
		{5, "spawn-spinner", func(ctx context.Context) error { return spawn(ctx, "spinner", "run") }},
		{8, "send-big", func(ctx context.Context) error { // the client sends the bytes as the body
			if len(mine) == 0 {
				return nil
			}
			return c.Send(ctx, control.SendRequest{PID: mine[rng.IntN(len(mine))], MessageBase64: big})
		}},
		{2, "send-big-json", func(ctx context.Context) error { // base64 in JSON: 9 ms of decoding
			if len(mine) == 0 {
				return nil
			}
			var ok control.OKResponse
			return c.Do(ctx, http.MethodPost, "/v1/send", control.SendRequest{PID: mine[rng.IntN(len(mine))], MessageBase64: big}, &ok)
		}},
		{5, "reload", func(ctx context.Context) error {
			_, err := c.Load(ctx, control.LoadRequest{Purge: true, Modules: []control.ModuleSource{{Name: fmt.Sprintf("c%d", rng.IntN(10)), Wasm: wasm(counterV[rng.IntN(3)])}}})
			return err
		}},
		{3, "purge", func(ctx context.Context) error {
			_, err := c.Purge(ctx, fmt.Sprintf("c%d", rng.IntN(10)))
			return err
		}},
		{4, "load-corrupt", func(ctx context.Context) error {
			junk := slices.Clone(wasm("counter_v1"))
			for range 8 {
				junk[8+rng.IntN(len(junk)-8)] = byte(rng.IntN(256))
			}
			_, err := c.Load(ctx, control.LoadRequest{Purge: true, Modules: []control.ModuleSource{{Name: "junk", Wasm: junk}}})
			return err
		}},
		{3, "huge-name", func(ctx context.Context) error {
			_, err := c.Call(ctx, control.CallRequest{Module: "counter", Function: hugeName})
			return err
		}},
		{5, "unknown", func(ctx context.Context) error {
			_, err := c.Call(ctx, control.CallRequest{Module: "counter", Function: fmt.Sprintf("nope%d", rng.Int())})
			return err
		}},
		{5, "send-unknown", func(ctx context.Context) error {
			return c.Send(ctx, control.SendRequest{PID: fmt.Sprintf("%08x", rng.Uint32()), Message: "x"})
		}},
		{10, "call", func(ctx context.Context) error {
			_, err := c.Call(ctx, control.CallRequest{Module: "counter", Function: "add", Args: []string{"2", "3"}})
			return err
		}},
		{10, "procs", func(ctx context.Context) error {
			// Read whole and checked, not decoded into structs: decoding
			// thousands of processes was half of the clients' CPU.
			var raw json.RawMessage
			return c.Do(ctx, http.MethodGet, "/v1/procs", nil, &raw)
		}},
	}
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	for ctx.Err() == nil {
		r := rng.IntN(total)
		i := 0
		for r >= ops[i].weight {
			r -= ops[i].weight
			i++
		}
		if skip[ops[i].name] {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := ops[i].do(rctx)
		cancel()
		if ctx.Err() == nil {
			st.record(ops[i].name, err)
		}
	}
	for _, pid := range mine {
		_, _ = c.Kill(context.Background(), pid)
	}
}

// slowAttacker holds TCP connections open, as an attacker would: without
// the token, headers sent a byte at a time and never finished; with it, a
// load that declares 50 MB and sends the first bytes.
func slowAttacker(ctx context.Context, addr string, id int) {
	for ctx.Err() == nil {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if id%2 == 0 {
			_, _ = io.WriteString(conn, "POST /v1/load HTTP/1.1\r\nHost: n\r\n")
		} else {
			_, _ = io.WriteString(conn, "POST /v1/load HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer soak-token-0123456789\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{\"modules\":[")
		}
		// Read until the node closes the connection (its timeouts), or
		// give up after a while.
		_ = conn.SetReadDeadline(time.Now().Add(time.Duration(5+rand.IntN(120)) * time.Second))
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, conn)
			close(done)
		}()
		select {
		case <-ctx.Done():
		case <-done:
		}
		conn.Close()
	}
}
