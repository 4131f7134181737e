package control

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/modules"
)

// maxAmbiguousShown is how many of the pids an ambiguous prefix matches an
// error lists.
const maxAmbiguousShown = 3

// resolvePID turns the pid of a request into a process's pid: a uuid as
// is (the host says noproc if nothing has it), or a unique prefix of at
// least MinPIDPrefix hex digits of the pid of a process the host knows
// (live or recently exited).
func (s *Server) resolvePID(arg string) (host.PID, error) {
	if len(arg) >= 32 {
		if pid, err := uuid.Parse(arg); err == nil {
			return pid, nil
		}
	}
	prefix, ok := pidPrefix(arg)
	if !ok {
		return host.PID{}, badRequest("bad pid %s: want a uuid, or a unique prefix of one of at least %d hex digits", modules.Excerpt(arg), MinPIDPrefix)
	}
	var found []host.PID
	var digits [32]byte
	for _, pid := range s.opts.Host.PIDs() {
		hex.Encode(digits[:], pid[:])
		if string(digits[:len(prefix)]) == prefix {
			found = append(found, pid)
		}
	}
	slices.SortFunc(found, func(a, b host.PID) int { return bytes.Compare(a[:], b[:]) })
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return host.PID{}, &Error{Status: http.StatusNotFound, Code: CodeNoProc,
			Message: fmt.Sprintf("no process has a pid starting with %s", arg)}
	}
	shown := make([]string, 0, maxAmbiguousShown)
	for _, p := range found[:min(len(found), maxAmbiguousShown)] {
		shown = append(shown, p.String())
	}
	more := ""
	if len(found) > maxAmbiguousShown {
		more = ", ..."
	}
	return host.PID{}, &Error{Status: http.StatusBadRequest, Code: CodeAmbiguous,
		Message: fmt.Sprintf("pid prefix %s matches %d processes (%s%s); give more digits", arg, len(found), strings.Join(shown, ", "), more)}
}

// pidPrefix returns arg as a prefix of a pid without dashes, in lower
// case, when it is one: hex digits and dashes, at least MinPIDPrefix
// digits, no more than a uuid has.
func pidPrefix(arg string) (string, bool) {
	if len(arg) > 36 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToLower(arg) {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'f':
			b.WriteRune(r)
		case r == '-':
		default:
			return "", false
		}
	}
	if b.Len() < MinPIDPrefix || b.Len() > 32 {
		return "", false
	}
	return b.String(), true
}
