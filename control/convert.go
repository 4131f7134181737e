package control

import (
	"context"
	"errors"
	"math"
	"strconv"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/modules"
)

func moduleJSON(mi host.ModuleInfo) Module {
	return Module{Name: mi.Name, Current: versionJSON(mi.Current), Old: versionJSON(mi.Old), Sticky: mi.Sticky}
}

func versionJSON(v *host.VersionInfo) *Version {
	if v == nil {
		return nil
	}
	out := &Version{
		Vsn: v.Vsn, VsnTag: v.VsnTag, UUID: v.UUID, SHA256: v.SHA256, Size: v.Size, LoadedAt: v.LoadedAt,
		Exports: make([]Export, len(v.Exports)), Lingering: v.Lingering, InFlight: v.InFlight,
	}
	for i, f := range v.Exports {
		out.Exports[i] = Export{Name: f.Name, Signature: f.Signature.String()}
	}
	return out
}

func processJSON(p host.ProcessInfo) Process {
	out := Process{PID: p.PID.String(), Handle: p.Handle, Module: p.Module, Vsn: p.Vsn, VsnTag: p.VsnTag, Status: string(p.Status), MailboxLen: p.MailboxLen, Fuel: p.Fuel, Suspended: p.SysSuspended}
	if p.Exit != nil {
		out.Exit = &Exit{Reason: string(p.Exit.Reason)}
		if p.Exit.Err != nil {
			out.Exit.Error = p.Exit.Err.Error()
		}
	}
	return out
}

// callNumbers runs a CallRequest. The arguments are converted to the
// parameter types of the current version's export; when the module is not
// loaded yet (the host may load it from its code path on this call) they
// are taken as 64-bit integers.
func callNumbers(ctx context.Context, h *host.Host, req CallRequest) (CallResponse, error) {
	var params []api.ValueType
	if mi, err := h.Which(req.Module); err == nil && mi.Current != nil {
		for _, f := range mi.Current.Exports {
			if f.Name == req.Function {
				params = f.Params
			}
		}
	}
	args := make([]uint64, len(req.Args))
	for i, s := range req.Args {
		t := api.ValueTypeI64
		if i < len(params) {
			t = params[i]
		}
		v, err := encodeValue(t, s)
		if err != nil {
			return CallResponse{}, badRequest("call %s:%s argument %d: %v", req.Module, modules.Clip(req.Function), i+1, err)
		}
		args[i] = v
	}
	res, err := h.Call(ctx, req.Module, req.Function, args...)
	if err != nil {
		return CallResponse{}, err
	}
	// The result types, from the version that answered (or its successor
	// if a load slipped in: the count still matches or the call failed).
	var results []api.ValueType
	if mi, err := h.Which(req.Module); err == nil && mi.Current != nil {
		for _, f := range mi.Current.Exports {
			if f.Name == req.Function {
				results = f.Results
			}
		}
	}
	out := CallResponse{Results: make([]Value, len(res))}
	for i, v := range res {
		t := api.ValueTypeI64
		if i < len(results) {
			t = results[i]
		}
		out.Results[i] = decodeValue(t, v)
	}
	return out, nil
}

// encodeValue parses s as a Wasm value of type t: integers in decimal or
// with a 0x/0o/0b prefix, signed or unsigned within the type's width;
// floats in any form strconv.ParseFloat takes.
func encodeValue(t api.ValueType, s string) (uint64, error) {
	switch t {
	case api.ValueTypeI32:
		if v, err := strconv.ParseInt(s, 0, 32); err == nil {
			return api.EncodeI32(int32(v)), nil
		}
		if v, err := strconv.ParseUint(s, 0, 32); err == nil {
			return v, nil
		}
		return 0, errors.New("not an i32: " + strconv.Quote(s))
	case api.ValueTypeI64:
		if v, err := strconv.ParseInt(s, 0, 64); err == nil {
			return api.EncodeI64(v), nil
		}
		if v, err := strconv.ParseUint(s, 0, 64); err == nil {
			return v, nil
		}
		return 0, errors.New("not an i64: " + strconv.Quote(s))
	case api.ValueTypeF32:
		v, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return 0, errors.New("not an f32: " + strconv.Quote(s))
		}
		return api.EncodeF32(float32(v)), nil
	case api.ValueTypeF64:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, errors.New("not an f64: " + strconv.Quote(s))
		}
		return api.EncodeF64(v), nil
	}
	return 0, errors.New("parameters of type " + api.ValueTypeName(t) + " cannot be given")
}

// decodeValue formats a Wasm value of type t; integers as signed decimals.
func decodeValue(t api.ValueType, v uint64) Value {
	name := api.ValueTypeName(t)
	switch t {
	case api.ValueTypeI32:
		return Value{name, strconv.FormatInt(int64(int32(uint32(v))), 10)}
	case api.ValueTypeF32:
		return Value{name, strconv.FormatFloat(float64(math.Float32frombits(uint32(v))), 'g', -1, 32)}
	case api.ValueTypeF64:
		return Value{name, strconv.FormatFloat(math.Float64frombits(v), 'g', -1, 64)}
	}
	return Value{name, strconv.FormatInt(int64(v), 10)}
}
