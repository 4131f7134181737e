package control

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestProcsJSON: the hand-written procs answer is byte for byte what
// encoding/json writes, for every field and for strings it must escape.
func TestProcsJSON(t *testing.T) {
	full := Process{PID: "0b6f1c1e-8d4f-4f57-9a53-2f7d0c6b1a2e", Handle: 42, Module: "counter", Vsn: 3, Status: "running",
		MailboxLen: 7, Fuel: -1 << 40, VsnTag: "v3", Suspended: true, Exit: &Exit{Reason: "killed", Error: "purged"}}
	v := reflect.ValueOf(full)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the test's full Process leaves %s zero: set it, and encode it in appendProcess", v.Type().Field(i).Name)
		}
	}
	odd := []string{"", `say "hi"`, `back\slash`, "tab\tnewline\n\x00\x1f", "a<b", "a>b", "a&b", "héllo wörld", "bad \xff\xfe utf-8",
		"line\u2028para\u2029", "\u007f del", "emoji 🙂"}
	ps := []Process{full, {PID: "x", Status: "exited", Exit: &Exit{Reason: "normal"}}, {}}
	for _, s := range odd {
		ps = append(ps, Process{PID: s, Module: s, Status: s, VsnTag: s, Exit: &Exit{Reason: s, Error: s}})
	}
	for _, list := range [][]Process{ps, ps[:1], {}} {
		want, err := json.Marshal(ProcsResponse{Processes: list})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		if got := procsAnswer(list); string(got) != string(want) {
			t.Errorf("procsAnswer(%d processes):\n got %s\nwant %s", len(list), got, want)
		}
	}
}

// BenchmarkProcsAnswer: a listing of 3,000 processes, by hand and by
// encoding/json.
func BenchmarkProcsAnswer(b *testing.B) {
	ps := make([]Process, 3000)
	for i := range ps {
		ps[i] = Process{PID: "0b6f1c1e-8d4f-4f57-9a53-2f7d0c6b1a2e", Handle: int64(i + 1), Module: "hog", Vsn: 1, Status: "waiting",
			MailboxLen: i % 7, Fuel: int64(i) * 1000, VsnTag: "v1"}
	}
	b.Run("by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = procsAnswer(ps)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = encoded(ProcsResponse{Processes: ps}, nil)
		}
	})
}
