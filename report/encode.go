package report

import (
	"encoding/json"
	"fmt"
	"io"
)

// JSON writes r as one indented JSON object followed by a newline.
func JSON(w io.Writer, r Report) error {
	if r.Regions == nil {
		r.Regions = []Region{}
	}
	if r.RepeatedBlocks == nil {
		r.RepeatedBlocks = []RepeatedBlock{}
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	if err := e.Encode(r); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Decode reads one JSON report, checking its schema.
func Decode(r io.Reader) (Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return rep, fmt.Errorf("report: %w", err)
	}
	if rep.Schema != Schema {
		return rep, fmt.Errorf("report: schema %q, want %q", rep.Schema, Schema)
	}
	return rep, nil
}
