package control

import (
	"testing"

	"github.com/tetratelabs/wazero/api"
)

func TestEncodeValue(t *testing.T) {
	i32, i64, f32, f64 := api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF32, api.ValueTypeF64
	for _, tc := range []struct {
		t    api.ValueType
		in   string
		want uint64
		back string // decodeValue of want
		ok   bool
	}{
		{i32, "-1", 0xffffffff, "-1", true},
		{i32, "4294967295", 0xffffffff, "-1", true},
		{i32, "0x10", 16, "16", true},
		{i32, "4294967296", 0, "", false},
		{i32, "1.5", 0, "", false},
		{i64, "-9223372036854775808", 1 << 63, "-9223372036854775808", true},
		{i64, "18446744073709551615", ^uint64(0), "-1", true},
		{i64, "18446744073709551616", 0, "", false},
		{f32, "1.5", uint64(api.EncodeF32(1.5)), "1.5", true},
		{f64, "-2.25e3", api.EncodeF64(-2250), "-2250", true},
		{f64, "x", 0, "", false},
		{api.ValueTypeExternref, "1", 0, "", false},
	} {
		got, err := encodeValue(tc.t, tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("encodeValue(%s, %q) = %#x, %v; want %#x ok=%v", api.ValueTypeName(tc.t), tc.in, got, err, tc.want, tc.ok)
			continue
		}
		if tc.ok {
			if v := decodeValue(tc.t, got); v.Value != tc.back || v.Type != api.ValueTypeName(tc.t) {
				t.Errorf("decodeValue(%s, %#x) = %+v, want %s", api.ValueTypeName(tc.t), got, v, tc.back)
			}
		}
	}
}
