package control_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/wasmhot/wasmhot/control"
	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

// A Go program serves the control API from its own http.ServeMux, beside
// its own pages, and drives the node with the client.
func Example_embedding() {
	ctx := context.Background()
	h, err := host.New(ctx, host.NewConfig().WithLog(nil))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close(ctx)

	const token = "a-secret-of-16-characters-or-more"
	api := control.NewServer(control.Options{Host: h}).Handler(token)
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the program's own page")
	})
	mux.Handle("/v1/", api)     // the control API...
	mux.Handle("/metrics", api) // ...its Prometheus metrics...
	mux.Handle("/healthz", api) // ...and its health check, all behind the token

	srv := httptest.NewServer(mux) // a real program: http.Serve(listener, mux)
	defer srv.Close()

	cl, err := control.Dial(strings.TrimPrefix(srv.URL, "http://"), token)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	loaded, err := cl.Load(ctx, control.LoadRequest{Modules: []control.ModuleSource{
		{Name: "counter", Wasm: guestexamples.Wasm("counter_v1")},
	}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("loaded", loaded.Modules[0].Name, "vsn", loaded.Modules[0].Current.Vsn)
	sum, err := cl.Call(ctx, control.CallRequest{Module: "counter", Function: "add", Args: []string{"2", "3"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("counter:add(2, 3) =", sum[0].Value)
	health, err := cl.Health(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("health:", health.Status, health.Modules, "module")

	// What a Prometheus scraper reads, with the same token.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		if line := sc.Text(); strings.HasPrefix(line, "wasmhot_loads_total") || strings.HasPrefix(line, "wasmhot_calls_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// loaded counter vsn 1
	// counter:add(2, 3) = 5
	// health: ok 1 module
	// wasmhot_calls_total 1
	// wasmhot_loads_total 1
}
