package modules

import (
	"strings"
	"testing"
)

// empty is the smallest module: the header alone.
var empty = []byte("\x00asm\x01\x00\x00\x00")

func TestVsnTag(t *testing.T) {
	if tag, err := VsnTag(empty); tag != "" || err != nil {
		t.Fatalf("no section: %q, %v", tag, err)
	}
	b, err := AppendVsnSection(empty, "1.2.0-rc1")
	if err != nil {
		t.Fatal(err)
	}
	if tag, err := VsnTag(b); tag != "1.2.0-rc1" || err != nil {
		t.Fatalf("VsnTag = %q, %v", tag, err)
	}
	if _, err := AppendVsnSection(b, "2"); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("second section: %v", err)
	}
	// Two sections written by hand are refused by precheck.
	b2, _ := AppendVsnSection(empty, "2")
	two := append(append([]byte(nil), b...), b2[8:]...)
	if err := precheck(two); err == nil || !strings.Contains(err.Error(), "two") {
		t.Errorf("two sections: %v", err)
	}
	// Another custom section is skipped.
	other := append(append([]byte(nil), empty...), 0, 4, 3, 'a', 'b', 'c')
	other = append(other, b[8:]...)
	if tag, err := VsnTag(other); tag != "1.2.0-rc1" || err != nil {
		t.Errorf("after another custom section: %q, %v", tag, err)
	}
}

func TestVsnTagBad(t *testing.T) {
	for _, tag := range []string{"", "has space", "tab\t", "\xff", strings.Repeat("x", MaxVsnTag+1)} {
		if _, err := AppendVsnSection(empty, tag); err == nil {
			t.Errorf("AppendVsnSection(%q) succeeded", tag)
		}
		// The same tag written by hand fails precheck.
		content := append([]byte{byte(len(VsnSection))}, VsnSection...)
		content = append(content, tag...)
		b := append(append([]byte(nil), empty...), 0)
		b = appendULEB(b, uint32(len(content)))
		b = append(b, content...)
		if err := precheck(b); err == nil {
			t.Errorf("precheck of tag %q succeeded", tag)
		}
	}
	if _, err := AppendVsnSection([]byte("junk"), "1"); err == nil {
		t.Error("AppendVsnSection of junk succeeded")
	}
	if got := DefaultVsnTag([32]byte{0xab, 1}); got != "sha256:ab01000000000000" {
		t.Errorf("DefaultVsnTag = %q", got)
	}
}
