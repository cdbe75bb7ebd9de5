package report

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zerocheck/zerocheck/internal/atomicfile"
)

// Caps on the parts of a file name, in bytes, so that a hostile or
// absurd peer name cannot push the name past the file system's 255
// bytes (with room for a collision suffix and atomicfile's temp name).
const (
	maxHostPart  = 64
	maxRunIDPart = 32
	maxRolePart  = 16
)

// fileTime is the layout of a file name's time: UTC, to the second,
// sortable as text.
const fileTime = "20060102T150405Z"

// FileName returns the name Save starts from for r:
//
//	<start>_<run id>_<sender>_to_<receiver>_<role>.json
//	20261125T142300Z_1f2e3d4c5b6a7980_hostA_to_hostB_recv.json
//
// start is r.Start in UTC, or now if it is zero. The run id is r.RunID,
// which both ends' reports of one network run share; a run without one
// (verify) gets 8 random hex digits instead, so FileName then
// differs from call to call. The hosts are r.Endpoints(), "unknown" when
// empty. Every part keeps only [A-Za-z0-9._-], each other character (a
// rune, not a byte) becoming "-", and is cut to a bounded length: the
// names come from the peer, and "_" never occurs in a part, so a reader
// can split a name on "_".
//
// Sorting names sorts runs by start time. The send and the recv report
// of one run differ at least in their role, so they can share a
// directory; their times can differ too (each end stamps its own start).
func (r *Report) FileName() string {
	start := r.Start
	if start.IsZero() {
		start = time.Now()
	}
	id := r.RunID
	if id == "" {
		var b [4]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	sender, receiver := r.Endpoints()
	return fmt.Sprintf("%s_%s_%s_to_%s_%s.json", start.UTC().Format(fileTime),
		namePart(id, maxRunIDPart), namePart(sender, maxHostPart),
		namePart(receiver, maxHostPart), namePart(r.Role, maxRolePart))
}

// namePart makes s safe as one part of a file name.
func namePart(s string, limit int) string {
	if s == "" {
		return "unknown"
	}
	var b strings.Builder
	for _, c := range s {
		if b.Len() == limit {
			break
		}
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// Save writes r as JSON (as JSON writes it) to a new file in dir, named
// by FileName, and returns its path. It never replaces a file: if the
// name is taken, by an earlier save of the same run or by a concurrent
// one, the name gets a suffix before ".json": -2, -3, and so on. The file
// appears whole or not at all (see internal/atomicfile), with mode 0644.
func Save(dir string, r *Report) (path string, err error) {
	base := strings.TrimSuffix(r.FileName(), ".json")
	name := func(n int) string {
		if n == 0 {
			return base + ".json"
		}
		return fmt.Sprintf("%s-%d.json", base, n+1)
	}
	path, err = atomicfile.WriteNew(dir, name, 0o644, func(w io.Writer) error { return JSON(w, *r) })
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return path, nil
}
