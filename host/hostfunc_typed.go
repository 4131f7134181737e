package host

import (
	"context"
	"fmt"
	"math"
	"reflect"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/modules"
)

// NewHostFunc returns the host function name calling fn, a Go function
// whose Wasm type follows from its Go type:
//
//   - first, optionally, a context.Context, then optionally a [Caller];
//   - then its parameters: int32, uint32 or bool (an i32; bool is not 0),
//     int64 or uint64 (i64), float32 (f32), float64 (f64), and []byte or
//     string, which take two i32s from the guest, a pointer and a length
//     into its memory: fn gets a copy of those bytes (a pointer outside
//     the memory ends the guest call with badarg);
//   - results: any number of those numbers, or one []byte or string,
//     returned to the guest as an i64 ptr<<32|len in memory the host gets
//     from the guest's alloc export ([Caller.WriteBytes]; a module
//     importing such a function must export alloc); then optionally an
//     error, which ends the guest call (see [Config.WithHostFunctions]).
//
// Types defined on those (type Key string) are accepted; int and uint are
// not (their size differs between the host and a 32-bit guest). What is
// wrong with fn is reported by [Config.Validate] and [New].
//
//	host.NewHostFunc("add", func(a, b int32) int32 { return a + b })             // (i32, i32) -> i32
//	host.NewHostFunc("get", func(ctx context.Context, key string) ([]byte, error) // (i32, i32) -> i64
//
// The conversions go through package reflect (a few hundred nanoseconds
// a call), except for the bytes signature
// func(context.Context, Caller, []byte) ([]byte, error), which is called
// directly; [NewHostFuncStack] converts nothing.
func NewHostFunc(name string, fn any) HostFunc {
	if b, ok := fn.(func(context.Context, Caller, []byte) ([]byte, error)); ok && b != nil {
		return bytesHostFunc(name, b)
	}
	f := HostFunc{name: name}
	v := reflect.ValueOf(fn)
	if fn == nil || v.Kind() != reflect.Func || v.IsNil() {
		f.err = fmt.Errorf("host function %q: %T is not a function", name, fn)
		return f
	}
	tf, err := newTypedFunc(v)
	if err != nil {
		f.err = fmt.Errorf("host function %q: %v: %w", name, v.Type(), err)
		return f
	}
	f.sig, f.call, f.bytesOut = tf.sig, tf.call, tf.bytesOut
	return f
}

// bytesHostFunc is the direct form of the bytes signature: (ptr, len i32)
// -> i64.
func bytesHostFunc(name string, fn func(context.Context, Caller, []byte) ([]byte, error)) HostFunc {
	return HostFunc{name: name, sig: bytesSig.Clone(), bytesOut: true,
		call: func(ctx context.Context, c Caller, stack []uint64) error {
			in, err := c.Read(uint32(stack[0]), uint32(stack[1]))
			if err != nil {
				return err
			}
			out, err := fn(ctx, c, in)
			if err != nil {
				return err
			}
			stack[0], err = c.WriteBytes(out)
			return err
		}}
}

// argKind is how one Go parameter or result maps to Wasm values.
type argKind uint8

const (
	argCtx argKind = iota
	argCaller
	argI32 // int32, uint32
	argBool
	argI64 // int64, uint64
	argF32
	argF64
	argBytes  // []byte: ptr, len
	argString // string: ptr, len
	argError
)

type typedArg struct {
	kind argKind
	t    reflect.Type
}

type typedFunc struct {
	fn       reflect.Value
	ins      []typedArg
	outs     []typedArg
	sig      modules.Signature
	bytesOut bool
}

var (
	ctxType    = reflect.TypeFor[context.Context]()
	callerType = reflect.TypeFor[Caller]()
	errorType  = reflect.TypeFor[error]()
)

// valueKind maps a parameter or result type to its kind and Wasm types.
func valueKind(t reflect.Type) (argKind, []api.ValueType, error) {
	switch t.Kind() {
	case reflect.Int32, reflect.Uint32:
		return argI32, []api.ValueType{i32}, nil
	case reflect.Bool:
		return argBool, []api.ValueType{i32}, nil
	case reflect.Int64, reflect.Uint64:
		return argI64, []api.ValueType{i64}, nil
	case reflect.Float32:
		return argF32, []api.ValueType{api.ValueTypeF32}, nil
	case reflect.Float64:
		return argF64, []api.ValueType{api.ValueTypeF64}, nil
	case reflect.String:
		return argString, []api.ValueType{i32, i32}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return argBytes, []api.ValueType{i32, i32}, nil
		}
	case reflect.Int, reflect.Uint:
		return 0, nil, fmt.Errorf("%v: int and uint differ in size between host and guest; use int32, uint32, int64 or uint64", t)
	}
	return 0, nil, fmt.Errorf("%v: want int32, uint32, int64, uint64, float32, float64, bool, []byte or string", t)
}

func newTypedFunc(v reflect.Value) (*typedFunc, error) {
	t := v.Type()
	if t.IsVariadic() {
		return nil, fmt.Errorf("variadic functions cannot be host functions")
	}
	tf := &typedFunc{fn: v}
	i := 0
	if i < t.NumIn() && t.In(i) == ctxType {
		tf.ins = append(tf.ins, typedArg{argCtx, ctxType})
		i++
	}
	if i < t.NumIn() && t.In(i) == callerType {
		tf.ins = append(tf.ins, typedArg{argCaller, callerType})
		i++
	}
	for ; i < t.NumIn(); i++ {
		in := t.In(i)
		switch in {
		case ctxType, callerType:
			return nil, fmt.Errorf("parameter %d: %v comes first (context.Context, then Caller)", i+1, in)
		}
		k, ws, err := valueKind(in)
		if err != nil {
			return nil, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		tf.ins = append(tf.ins, typedArg{k, in})
		tf.sig.Params = append(tf.sig.Params, ws...)
	}
	n := t.NumOut()
	if n > 0 && t.Out(n-1) == errorType {
		n--
	}
	for j := 0; j < n; j++ {
		out := t.Out(j)
		k, ws, err := valueKind(out)
		if err != nil {
			return nil, fmt.Errorf("result %d: %w", j+1, err)
		}
		if k == argBytes || k == argString {
			if n != 1 {
				return nil, fmt.Errorf("result %d: %v: a []byte or string result must be the only one (besides an error)", j+1, out)
			}
			ws = []api.ValueType{i64}
			tf.bytesOut = true
		}
		tf.outs = append(tf.outs, typedArg{k, out})
		tf.sig.Results = append(tf.sig.Results, ws...)
	}
	if n < t.NumOut() {
		tf.outs = append(tf.outs, typedArg{argError, errorType})
	}
	return tf, nil
}

// call converts the guest's values to fn's arguments, calls fn, and
// converts its results back.
func (tf *typedFunc) call(ctx context.Context, c Caller, stack []uint64) error {
	args := make([]reflect.Value, len(tf.ins))
	w := 0
	for i, a := range tf.ins {
		var v reflect.Value
		switch a.kind {
		case argCtx:
			v = reflect.ValueOf(&ctx).Elem()
		case argCaller:
			v = reflect.ValueOf(c)
		case argI32:
			v = reflect.New(a.t).Elem()
			if v.CanInt() {
				v.SetInt(int64(int32(stack[w])))
			} else {
				v.SetUint(uint64(uint32(stack[w])))
			}
			w++
		case argBool:
			v = reflect.New(a.t).Elem()
			v.SetBool(uint32(stack[w]) != 0)
			w++
		case argI64:
			v = reflect.New(a.t).Elem()
			if v.CanInt() {
				v.SetInt(int64(stack[w]))
			} else {
				v.SetUint(stack[w])
			}
			w++
		case argF32:
			v = reflect.New(a.t).Elem()
			v.SetFloat(float64(math.Float32frombits(uint32(stack[w]))))
			w++
		case argF64:
			v = reflect.New(a.t).Elem()
			v.SetFloat(math.Float64frombits(stack[w]))
			w++
		case argBytes, argString:
			b, err := c.Read(uint32(stack[w]), uint32(stack[w+1]))
			if err != nil {
				return fmt.Errorf("parameter %d: %w", i+1, err)
			}
			w += 2
			if a.kind == argString {
				v = reflect.ValueOf(string(b)).Convert(a.t)
			} else {
				v = reflect.ValueOf(b).Convert(a.t)
			}
		}
		args[i] = v
	}
	outs := tf.fn.Call(args)
	if k := len(tf.outs); k > 0 && tf.outs[k-1].kind == argError {
		if err, _ := outs[k-1].Interface().(error); err != nil {
			return err
		}
	}
	w = 0
	for j, a := range tf.outs {
		v := outs[j]
		switch a.kind {
		case argI32:
			if v.CanInt() {
				stack[w] = uint64(uint32(int32(v.Int())))
			} else {
				stack[w] = uint64(uint32(v.Uint()))
			}
		case argBool:
			stack[w] = 0
			if v.Bool() {
				stack[w] = 1
			}
		case argI64:
			if v.CanInt() {
				stack[w] = uint64(v.Int())
			} else {
				stack[w] = v.Uint()
			}
		case argF32:
			stack[w] = uint64(math.Float32bits(float32(v.Float())))
		case argF64:
			stack[w] = math.Float64bits(v.Float())
		case argBytes, argString:
			var b []byte
			if a.kind == argString {
				b = []byte(v.String())
			} else {
				b = v.Bytes()
			}
			packed, err := c.WriteBytes(b)
			if err != nil {
				return err
			}
			stack[w] = packed
		case argError:
			continue
		}
		w++
	}
	return nil
}
