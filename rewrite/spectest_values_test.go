package rewrite_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The wast2json script format: a list of commands, each naming a module
// file or an action on an instantiated module.

type specScript struct {
	SourceFilename string        `json:"source_filename"`
	Commands       []specCommand `json:"commands"`
}

type specCommand struct {
	Type       string      `json:"type"`
	Line       int         `json:"line"`
	Name       string      `json:"name"`        // module, register: the module's $name
	Filename   string      `json:"filename"`    // module and assert_* on modules
	As         string      `json:"as"`          // register: the import name
	Text       string      `json:"text"`        // assert_*: the expected failure
	ModuleType string      `json:"module_type"` // "binary" or "text"
	Action     *specAction `json:"action"`
	Expected   []specValue `json:"expected"`
}

type specAction struct {
	Type   string      `json:"type"` // invoke or get
	Module string      `json:"module"`
	Field  string      `json:"field"`
	Args   []specValue `json:"args"`
}

// specValue is an argument or an expected result. Value is a JSON string
// (decimal bits, "null", "nan:canonical", "nan:arithmetic"), a list of
// such strings for v128 (one per lane of LaneType), or absent.
type specValue struct {
	Type     string          `json:"type"`
	LaneType string          `json:"lane_type"`
	Value    json.RawMessage `json:"value"`
}

func (v specValue) String() string {
	if v.Type == "v128" {
		return fmt.Sprintf("v128:%s%s", v.LaneType, string(v.Value))
	}
	return fmt.Sprintf("%s:%s", v.Type, string(v.Value))
}

// slots is how many uint64 the value takes in wazero's calling convention.
func (v specValue) slots() int {
	if v.Type == "v128" {
		return 2
	}
	return 1
}

func (v specValue) scalar() (string, error) {
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		return "", fmt.Errorf("value of %s: %w", v.Type, err)
	}
	return s, nil
}

func (v specValue) lanes() ([]string, int, bool, error) {
	var lanes []string
	if err := json.Unmarshal(v.Value, &lanes); err != nil {
		return nil, 0, false, fmt.Errorf("v128 lanes: %w", err)
	}
	width, float, ok := specLaneShape(v.LaneType)
	if !ok {
		return nil, 0, false, fmt.Errorf("unknown v128 lane type %q", v.LaneType)
	}
	if len(lanes) != 128/width {
		return nil, 0, false, fmt.Errorf("v128 of %s has %d lanes", v.LaneType, len(lanes))
	}
	return lanes, width, float, nil
}

func specLaneShape(t string) (width int, float, ok bool) {
	switch t {
	case "i8":
		return 8, false, true
	case "i16":
		return 16, false, true
	case "i32":
		return 32, false, true
	case "i64":
		return 64, false, true
	case "f32":
		return 32, true, true
	case "f64":
		return 64, true, true
	}
	return 0, false, false
}

// specParseBits parses a decimal, signed or not, into its width-bit pattern.
func specParseBits(s string, width int) (uint64, error) {
	if strings.HasPrefix(s, "-") {
		n, err := strconv.ParseInt(s, 10, width)
		if err != nil {
			return 0, err
		}
		return uint64(n) & specWidthMask(width), nil
	}
	return strconv.ParseUint(s, 10, width)
}

func specWidthMask(width int) uint64 {
	if width == 64 {
		return ^uint64(0)
	}
	return 1<<width - 1
}

// encode turns an argument into wazero's uint64 representation.
func (v specValue) encode() ([]uint64, error) {
	switch v.Type {
	case "i32", "f32", "i64", "f64":
		s, err := v.scalar()
		if err != nil {
			return nil, err
		}
		width := 32
		if strings.HasSuffix(v.Type, "64") {
			width = 64
		}
		b, err := specParseBits(s, width)
		if err != nil {
			return nil, fmt.Errorf("argument %v: %w", v, err)
		}
		return []uint64{b}, nil
	case "v128":
		lanes, width, _, err := v.lanes()
		if err != nil {
			return nil, err
		}
		var half [2]uint64
		perHalf := 64 / width
		for i, l := range lanes {
			b, err := specParseBits(l, width)
			if err != nil {
				return nil, fmt.Errorf("argument %v lane %d: %w", v, i, err)
			}
			half[i/perHalf] |= b << (uint(i%perHalf) * uint(width))
		}
		return half[:], nil
	case "externref", "funcref":
		s, err := v.scalar()
		if err != nil {
			return nil, err
		}
		if s == "null" {
			return []uint64{0}, nil
		}
		if v.Type == "funcref" {
			return nil, fmt.Errorf("non-null funcref argument %v", v)
		}
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			return nil, fmt.Errorf("argument %v: %w", v, err)
		}
		// wazero's externref is an opaque non-zero word, zero is null:
		// host reference n travels as n+1.
		return []uint64{n + 1}, nil
	}
	return nil, fmt.Errorf("unsupported argument type %q", v.Type)
}

// matches reports whether got (v.slots() words) is a value the
// expectation allows, following the spec's rules for NaN patterns.
func (v specValue) matches(got []uint64) (bool, error) {
	switch v.Type {
	case "i32", "f32", "i64", "f64":
		s, err := v.scalar()
		if err != nil {
			return false, err
		}
		width := 32
		if strings.HasSuffix(v.Type, "64") {
			width = 64
		}
		return specBitsMatch(s, width, v.Type[0] == 'f', got[0])
	case "v128":
		lanes, width, float, err := v.lanes()
		if err != nil {
			return false, err
		}
		perHalf := 64 / width
		for i, l := range lanes {
			lane := got[i/perHalf] >> (uint(i%perHalf) * uint(width))
			ok, err := specBitsMatch(l, width, float, lane)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case "externref", "funcref":
		if len(v.Value) == 0 {
			return got[0] != 0, nil // any non-null reference
		}
		s, err := v.scalar()
		if err != nil {
			return false, err
		}
		if s == "null" {
			return got[0] == 0, nil
		}
		if v.Type == "funcref" {
			return got[0] != 0, nil // a function reference has no portable value
		}
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			return false, err
		}
		return got[0] == n+1, nil
	}
	return false, fmt.Errorf("unsupported result type %q", v.Type)
}

// specBitsMatch compares the low width bits of got with want: decimal bits,
// or for floats one of the NaN classes of the spec scripts.
func specBitsMatch(want string, width int, float bool, got uint64) (bool, error) {
	got &= specWidthMask(width)
	if float && strings.HasPrefix(want, "nan:") {
		var exponent, quiet uint64 = 0x7f800000, 0x00400000
		if width == 64 {
			exponent, quiet = 0x7ff0000000000000, 0x0008000000000000
		}
		sign := uint64(1) << (width - 1)
		switch want {
		case "nan:canonical": // any sign, quiet bit only
			return got&^sign == exponent|quiet, nil
		case "nan:arithmetic": // any sign, quiet bit set, any payload
			return got&(exponent|quiet) == exponent|quiet, nil
		}
		return false, fmt.Errorf("unknown NaN class %q", want)
	}
	b, err := specParseBits(want, width)
	if err != nil {
		return false, err
	}
	return got == b, nil
}

// specFormatResults shows results as the expectation's types for messages.
func specFormatResults(exps []specValue, got []uint64) string {
	var parts []string
	pos := 0
	for _, e := range exps {
		n := e.slots()
		if pos+n > len(got) {
			parts = append(parts, "<missing>")
			break
		}
		if n == 2 {
			parts = append(parts, fmt.Sprintf("v128:%#016x_%016x", got[pos+1], got[pos]))
		} else {
			parts = append(parts, fmt.Sprintf("%s:%#x", e.Type, got[pos]))
		}
		pos += n
	}
	for ; pos < len(got); pos++ {
		parts = append(parts, fmt.Sprintf("extra:%#x", got[pos]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// specResultsMatch checks a whole result list against the expectations.
func specResultsMatch(exps []specValue, got []uint64) (bool, error) {
	pos := 0
	for _, e := range exps {
		n := e.slots()
		if pos+n > len(got) {
			return false, nil
		}
		ok, err := e.matches(got[pos : pos+n])
		if err != nil || !ok {
			return false, err
		}
		pos += n
	}
	return pos == len(got), nil
}
