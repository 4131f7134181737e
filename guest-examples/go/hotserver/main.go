// Command hotserver is the seeds' hotfix counter written as a gen_server
// with the SDK's server package: a few callbacks, no receive loop of its
// own. Three versions (build tags: none, v2, v3) are upgraded in place
// from outside: wasmhot suspend PID; wasmhot load; wasmhot change-code
// PID; wasmhot resume PID.
//
// Calls: "incr" adds the version's step (v1 1, v2 10, v3 100) and
// replies "vN count=C"; "get" replies "vN count=C handled=H from=F". Any
// other message is info: "report" logs what "get" replies, "stop" stops
// it. The state is {count, handled int64, from string}, the last the vsn
// tag of the version it came from. code_change logs "vN code_change
// from=OLD extra=EXTRA" and refuses when extra is "refuse".
package main

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/wasmhot/wasmhot/guest"
	"github.com/wasmhot/wasmhot/guest/server"
)

func main() {}

type state struct {
	count, handled int64
	from           string
}

func decode(b []byte) state {
	if len(b) < 16 {
		return state{}
	}
	return state{int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:])), string(b[16:])}
}

func (s state) encode() []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(s.count))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.handled))
	return append(b, s.from...)
}

func (s state) String() string {
	return vsn + " count=" + strconv.FormatInt(s.count, 10) + " handled=" + strconv.FormatInt(s.handled, 10) + " from=" + s.from
}

var counter = &server.Server{
	HandleCall: func(req []byte, _ server.From, b []byte) ([]byte, []byte, error) {
		s := decode(b)
		s.handled++
		if string(req) == "incr" {
			s.count += step
			return []byte(vsn + " count=" + strconv.FormatInt(s.count, 10)), s.encode(), nil
		}
		return []byte(s.String()), s.encode(), nil
	},
	HandleInfo: func(msg, b []byte) ([]byte, error) {
		switch string(msg) {
		case "report":
			guest.Log(decode(b).String())
		case "stop":
			return b, server.ErrStop
		}
		return b, nil
	},
	CodeChange: func(oldVsn string, b, extra []byte) ([]byte, error) {
		guest.Log(vsn + " code_change from=" + oldVsn + " extra=" + string(extra))
		if string(extra) == "refuse" {
			return nil, errors.New("refused by " + vsn)
		}
		s := decode(b)
		s.from = oldVsn
		return s.encode(), nil
	},
}

func init() { server.Register(counter) }

//go:wasmexport server
func run() { server.Run() }
