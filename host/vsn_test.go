package host_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/modules"
)

// TestVsnTag: a module's wasmhot.vsn section names its versions; the same
// bytes loaded again keep the same tag while the load counter moves on,
// like Erlang's -vsn attribute; a module without one is tagged from its
// sha256; a bad section fails the load and changes nothing.
func TestVsnTag(t *testing.T) {
	h := newHost(t, host.NewConfig())
	tagged, err := modules.AppendVsnSection(wasm("counter_v1"), "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := h.Load(ctx, "counter", tagged)
	if err != nil {
		t.Fatal(err)
	}
	if v1.VsnTag != "1.0.0" || v1.Vsn != 1 {
		t.Fatalf("first load: vsn %d tag %q", v1.Vsn, v1.VsnTag)
	}
	v2, _, err := h.Reload(ctx, "counter", tagged)
	if err != nil {
		t.Fatal(err)
	}
	if v2.VsnTag != "1.0.0" || v2.Vsn != 2 {
		t.Fatalf("reload of the same bytes: vsn %d tag %q, want 2 and 1.0.0", v2.Vsn, v2.VsnTag)
	}
	mi, err := h.Which("counter")
	if err != nil || mi.Current.VsnTag != "1.0.0" || mi.Old.VsnTag != "1.0.0" {
		t.Fatalf("Which: %+v, %v", mi, err)
	}
	plain, _, err := h.Reload(ctx, "counter", wasm("counter_v2"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain.VsnTag, "sha256:") || !strings.HasPrefix(plain.SHA256, strings.TrimPrefix(plain.VsnTag, "sha256:")) {
		t.Errorf("untagged module: tag %q, sha256 %s", plain.VsnTag, plain.SHA256)
	}
	again, _, err := h.Reload(ctx, "counter", wasm("counter_v2"))
	if err != nil || again.VsnTag != plain.VsnTag {
		t.Errorf("untagged bytes again: tag %q, want %q (%v)", again.VsnTag, plain.VsnTag, err)
	}
	// A bad section: the load fails with ErrBadModule, nothing changes.
	bad := append(append([]byte(nil), wasm("counter_v1")...), 0, byte(1+len(modules.VsnSection)+3))
	bad = append(append(append(bad, byte(len(modules.VsnSection))), modules.VsnSection...), "a b"...)
	before := h.Generation()
	if _, err := h.Load(ctx, "other", bad); !errors.Is(err, host.ErrBadModule) || !strings.Contains(err.Error(), "wasmhot.vsn") {
		t.Errorf("bad section: %v, want ErrBadModule naming the section", err)
	}
	if h.Generation() != before {
		t.Error("a refused load changed the code")
	}
}
