// Package metrics exposes a wasmhot node's counters as a Prometheus
// collector, so that a Go program embedding a [host.Host] registers them on
// its own registry:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewCollector(h, nil))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The collector reads [host.Host.Stats] at each scrape; the host keeps
// cheap atomic counters and depends on no metrics library. The control API
// serves the same metrics on GET /metrics (package control).
//
// Metrics (every name starts with wasmhot_):
//
//	loads_total                  counter    versions made current by a load
//	load_failures_total          counter    modules of loads that failed (nothing changed)
//	purges_total                 counter    old versions freed (purge, soft purge, reload)
//	deletes_total                counter    deletes of a module's current code
//	rollbacks_total              counter    rollbacks to a module's old code
//	spawns_total                 counter    processes started
//	upgrades_total               counter    processes moved to a new version at a continue
//	calls_total                  counter    Go calls that reached a guest
//	call_failures_total          counter    Go calls that failed
//	process_exits_total{reason}  counter    exits: normal, killed, trap, undef, badarity, badarg, limit
//	processes{status}            gauge      live processes: running, suspended
//	modules                      gauge      module names with current or old code
//	old_versions                 gauge      modules whose old code is not purged yet
//	memory_budget_bytes          gauge      the node's memory budget (0: none)
//	memory_used_bytes            gauge      bytes charged to it now
//	memory_peak_bytes            gauge      the most charged at once
//	memory_refusals_total        counter    charges refused for want of budget
//	log_lines_dropped_total      counter    log lines dropped: over the log rate, or a slow log output
//	reload_seconds               histogram  time of each successful load, from its start to the switch
package metrics

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmhot/wasmhot/host"
)

// Collector is a prometheus.Collector of one host's metrics.
type Collector struct {
	h *host.Host

	loads, loadFailures, purges, deletes  *prometheus.Desc
	rollbacks, logDropped                 *prometheus.Desc
	spawns, upgrades, calls, callFailures *prometheus.Desc
	exits, processes, modules, old        *prometheus.Desc
	memBudget, memUsed, memPeak, refusals *prometheus.Desc
	reload                                *prometheus.Desc
}

// NewCollector returns a collector of h's metrics. constLabels (nil: none)
// are added to every metric: a program with several hosts in one
// registry tells them apart that way, e.g. prometheus.Labels{"node": "a"}.
func NewCollector(h *host.Host, constLabels prometheus.Labels) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("wasmhot_"+name, help, labels, constLabels)
	}
	return &Collector{
		h:            h,
		loads:        d("loads_total", "Module versions made current by a load (one per module of each batch)."),
		loadFailures: d("load_failures_total", "Modules of loads that failed and changed nothing (one per module of each batch)."),
		purges:       d("purges_total", "Old module versions freed by a purge, a soft purge or a reload."),
		deletes:      d("deletes_total", "Deletes that made a module's current code old."),
		rollbacks:    d("rollbacks_total", "Rollbacks that made a module's old code current again."),
		spawns:       d("spawns_total", "Processes started, by Go and by guests."),
		upgrades:     d("upgrades_total", "Processes moved to a new version of their module at a continue."),
		calls:        d("calls_total", "Go calls into guests (Call, CallWithStack, CallBytes) that reached a guest instance."),
		callFailures: d("call_failures_total", "Go calls into guests that failed (undef, badarity, trap, limit...)."),
		exits:        d("process_exits_total", "Processes that exited, by reason.", "reason"),
		processes:    d("processes", "Live processes, by status (suspended: blocked in receive or sleep).", "status"),
		modules:      d("modules", "Module names with current or old code."),
		old:          d("old_versions", "Modules whose old code is not purged yet."),
		memBudget:    d("memory_budget_bytes", "The node's memory budget for guests (0: no bound)."),
		memUsed:      d("memory_used_bytes", "Bytes charged to the node's memory budget now."),
		memPeak:      d("memory_peak_bytes", "The most bytes ever charged to the memory budget at once."),
		refusals:     d("memory_refusals_total", "Charges the memory budget refused (each a failed grow, send, spawn, load...)."),
		logDropped:   d("log_lines_dropped_total", "Log lines dropped: guest lines over the node's log rate, and lines that found the queue to a slow log output full."),
		reload:       d("reload_seconds", "Time of each successful load or reload, from the start of preparing the code to the switch."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.loads, c.loadFailures, c.purges, c.deletes, c.rollbacks, c.spawns, c.upgrades, c.calls, c.callFailures,
		c.exits, c.processes, c.modules, c.old, c.memBudget, c.memUsed, c.memPeak, c.refusals, c.logDropped, c.reload,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one host.Stats snapshot.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(c.loads, st.Loads)
	counter(c.loadFailures, st.LoadFailures)
	counter(c.purges, st.Purges)
	counter(c.deletes, st.Deletes)
	counter(c.rollbacks, st.Rollbacks)
	counter(c.logDropped, st.LogLinesDropped)
	counter(c.spawns, st.Spawns)
	counter(c.upgrades, st.Upgrades)
	counter(c.calls, st.Calls)
	counter(c.callFailures, st.CallFailures)
	for _, r := range slices.Sorted(maps.Keys(st.Exits)) {
		counter(c.exits, st.Exits[r], string(r))
	}
	for _, s := range slices.Sorted(maps.Keys(st.Processes)) {
		gauge(c.processes, float64(st.Processes[s]), string(s))
	}
	gauge(c.modules, float64(st.Modules))
	gauge(c.old, float64(st.OldVersions))
	gauge(c.memBudget, float64(st.Memory.Budget))
	gauge(c.memUsed, float64(st.Memory.Used))
	gauge(c.memPeak, float64(st.Memory.Peak))
	counter(c.refusals, uint64(st.Memory.Refused))
	buckets := make(map[float64]uint64, len(st.Reload.Bounds))
	for i, b := range st.Reload.Bounds {
		buckets[b] = st.Reload.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.reload, st.Reload.Count, st.Reload.Sum, buckets)
}
