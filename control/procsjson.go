package control

import (
	"encoding/json"
	"strconv"
)

// The answer of procs, encoded by hand.
//
// A node lists thousands of processes, and encoding/json walks each one
// by reflection: 1.1 ms for 3,000 of them on an idle core, against 0.36
// ms here (BenchmarkProcsAnswer), and a soak's clients list them ten
// times a second. procsAnswer writes the same bytes into one buffer of
// about the right size; TestProcsJSON holds it to encoding/json's output,
// field for field.

// procsAnswer is the JSON answer of procs.
func procsAnswer(ps []Process) jsonAnswer {
	b := make([]byte, 0, 64+len(ps)*200)
	b = append(b, `{"processes":[`...)
	for i := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendProcess(b, &ps[i])
	}
	return append(b, "]}\n"...)
}

// appendProcess appends p as encoding/json encodes a Process.
func appendProcess(b []byte, p *Process) []byte {
	b = append(b, `{"pid":`...)
	b = appendString(b, p.PID)
	b = append(b, `,"handle":`...)
	b = strconv.AppendInt(b, p.Handle, 10)
	b = append(b, `,"module":`...)
	b = appendString(b, p.Module)
	b = append(b, `,"vsn":`...)
	b = strconv.AppendUint(b, p.Vsn, 10)
	b = append(b, `,"status":`...)
	b = appendString(b, p.Status)
	b = append(b, `,"mailbox_len":`...)
	b = strconv.AppendInt(b, int64(p.MailboxLen), 10)
	b = append(b, `,"fuel":`...)
	b = strconv.AppendInt(b, p.Fuel, 10)
	b = append(b, `,"vsn_tag":`...)
	b = appendString(b, p.VsnTag)
	b = append(b, `,"sys_suspended":`...)
	b = strconv.AppendBool(b, p.Suspended)
	b = append(b, `,"exit":`...)
	if p.Exit == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"reason":`...)
		b = appendString(b, p.Exit.Reason)
		if p.Exit.Error != "" {
			b = append(b, `,"error":`...)
			b = appendString(b, p.Exit.Error)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendString appends s quoted as encoding/json quotes it: as it is when
// it holds only printable ASCII that encoding/json leaves alone, and
// through encoding/json otherwise (escapes, HTML characters, UTF-8).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
