package wasmbin

import (
	"bytes"
	"testing"
)

func TestLEB(t *testing.T) {
	for _, tc := range []struct {
		got, want []byte
	}{
		{AppendU32(nil, 0), []byte{0x00}},
		{AppendU32(nil, 624485), []byte{0xe5, 0x8e, 0x26}},
		{AppendU32(nil, 0xffffffff), []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
		{AppendS64(nil, -1), []byte{0x7f}},
		{AppendS64(nil, 63), []byte{0x3f}},
		{AppendS64(nil, 64), []byte{0xc0, 0x00}},
		{AppendS64(nil, -123456), []byte{0xc0, 0xbb, 0x78}},
		{AppendName(nil, "ab"), []byte{0x02, 'a', 'b'}},
		{AppendSection(nil, 7, []byte{1, 2}), []byte{0x07, 0x02, 1, 2}},
		{FuncType([]byte{0x7f}, nil), []byte{0x60, 0x01, 0x7f, 0x00}},
		{Vec([][]byte{{1}, {2, 3}}), []byte{0x02, 1, 2, 3}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("got % x, want % x", tc.got, tc.want)
		}
	}
}
