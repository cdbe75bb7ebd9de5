package analyze

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/zerocheck/zerocheck/report"
)

// errNoReport is the verdict on a file that holds nothing at all: an
// empty file is what an interrupted redirect leaves, and is not a fleet
// of zero runs.
var errNoReport = errors.New("no report in it (empty)")

// Parse decodes report bytes: one zerocheck report, or several JSON
// objects one after another as recv --json writes them, one a run. It
// returns the reports in file order. The first object that is not a
// report (not JSON, truncated, another schema, an unknown verdict) ends
// the parse: the reports before it are returned with an error that says
// where and why. One writer made the file, so once it holds something
// else nothing after that point can be trusted; and a receiver killed
// while writing leaves complete reports before a truncated one.
func Parse(data []byte) ([]report.Report, error) {
	var out []report.Report
	err := decode(data, func(r report.Report) { out = append(out, r) })
	return out, err
}

// decode calls add for each report in data, in order, so that a caller
// can keep only what it needs of each before the next is decoded.
func decode(data []byte, add func(report.Report)) error {
	d := json.NewDecoder(bytes.NewReader(data))
	for n := 0; ; n++ {
		// Where the object starts, for the warning: past the blank
		// between objects.
		at := d.InputOffset()
		at += int64(len(data[at:]) - len(bytes.TrimLeft(data[at:], " \t\r\n")))
		var r report.Report
		err := d.Decode(&r)
		if err == io.EOF {
			if n == 0 {
				return errNoReport
			}
			return nil
		}
		if err == nil {
			err = check(r)
		} else {
			err = describe(err)
		}
		if err != nil {
			if n > 0 {
				return fmt.Errorf("at byte %d, after %d reports: %w", at, n, err)
			}
			return err
		}
		add(r)
	}
}

// describe turns a decoding error into the reason a person needs: was it
// JSON at all, and if so, was it cut short.
func describe(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated: the file ends inside a JSON value")
	case errors.As(err, &syn):
		return fmt.Errorf("not JSON: %v (byte %d)", err, syn.Offset)
	}
	return fmt.Errorf("not a zerocheck report: %v", err)
}

// check refuses a JSON object that decoded but is not a report the
// analysis can count: a foreign schema (another tool's JSON, or this
// command's own --json output left in a reports directory), or values no
// zerocheck writes, which would skew every sum and rate.
func check(r report.Report) error {
	switch {
	case r.Schema == "":
		return errors.New(`not a zerocheck report: no "schema" field`)
	case r.Schema != report.Schema:
		return fmt.Errorf("not a zerocheck report: schema %q, want %q", r.Schema, report.Schema)
	}
	switch r.Verdict {
	case report.Clean, report.Corrupt, report.Incomplete:
	default:
		return fmt.Errorf("not a zerocheck report: verdict %q", r.Verdict)
	}
	if r.BytesVerified < 0 || r.CorruptBytes < 0 || r.RegionCount < 0 {
		return errors.New("not a zerocheck report: negative counts")
	}
	return nil
}
