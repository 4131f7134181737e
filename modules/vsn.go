package modules

import (
	"encoding/hex"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// VsnSection is the name of the custom section in which a module names its
// version, like Erlang's -vsn attribute: a short string (at most MaxVsnTag
// bytes of printable UTF-8). Reloading the same bytes keeps the same tag.
const VsnSection = "wasmhot.vsn"

// MaxVsnTag is the longest vsn tag, in bytes.
const MaxVsnTag = 64

// DefaultVsnTag is the tag of a module without a wasmhot.vsn section: like
// Erlang's default vsn, derived from the module's checksum ("sha256:" and
// the first 16 hex digits of its sha256).
func DefaultVsnTag(sum [32]byte) string { return "sha256:" + hex.EncodeToString(sum[:8]) }

// VsnTag returns the string of wasm's wasmhot.vsn custom section, "" when
// it has none. A section that is not printable UTF-8 of 1 to MaxVsnTag
// bytes, or a second one, is an error. The rest of the module is not
// checked (the compiler does that).
func VsnTag(wasm []byte) (string, error) {
	if len(wasm) < 8 {
		return "", nil
	}
	b := wasm[8:]
	tag, found := "", false
	for len(b) > 0 {
		id := b[0]
		size, n, err := uleb32(b[1:])
		if err != nil || uint64(size) > uint64(len(b)-1-n) {
			return "", nil // not a module; the compiler says why
		}
		content := b[1+n : 1+n+int(size)]
		b = b[1+n+int(size):]
		if id != 0 {
			continue
		}
		nameLen, n, err := uleb32(content)
		if err != nil || uint64(nameLen) > uint64(len(content)-n) {
			return "", nil
		}
		if string(content[n:n+int(nameLen)]) != VsnSection {
			continue
		}
		if found {
			return "", errors.New("two " + VsnSection + " sections")
		}
		found = true
		tag = string(content[n+int(nameLen):])
		if err := CheckVsnTag(tag); err != nil {
			return "", err
		}
	}
	return tag, nil
}

// CheckVsnTag checks a vsn tag: 1 to MaxVsnTag bytes of UTF-8 without
// spaces or control characters.
func CheckVsnTag(tag string) error {
	switch {
	case tag == "":
		return fmt.Errorf("%s section: empty", VsnSection)
	case len(tag) > MaxVsnTag:
		return fmt.Errorf("%s section: %s over %d bytes", VsnSection, Excerpt(tag), MaxVsnTag)
	case !utf8.ValidString(tag):
		return fmt.Errorf("%s section: %s is not UTF-8", VsnSection, Excerpt(tag))
	}
	for _, r := range tag {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%s section: %s holds a space or a control character", VsnSection, Excerpt(tag))
		}
	}
	return nil
}

// AppendVsnSection returns wasm with a wasmhot.vsn custom section holding
// tag appended (a custom section may come anywhere). It fails on a bad tag
// or when wasm already has one.
func AppendVsnSection(wasm []byte, tag string) ([]byte, error) {
	if err := CheckVsnTag(tag); err != nil {
		return nil, err
	}
	if len(wasm) < 8 || string(wasm[:8]) != "\x00asm\x01\x00\x00\x00" {
		return nil, errors.New("not a Wasm module (want the header \\0asm, version 1)")
	}
	old, err := VsnTag(wasm)
	if err != nil {
		return nil, err
	}
	if old != "" {
		return nil, fmt.Errorf("the module already has a %s section (%q)", VsnSection, old)
	}
	var content []byte
	content = appendULEB(content, uint32(len(VsnSection)))
	content = append(content, VsnSection...)
	content = append(content, tag...)
	out := append([]byte(nil), wasm...)
	out = append(out, 0)
	out = appendULEB(out, uint32(len(content)))
	return append(out, content...), nil
}

func appendULEB(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}
