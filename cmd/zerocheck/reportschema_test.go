package main

// docs/report.schema.json is the published JSON Schema of the report
// (report.Report as --json writes it). These tests hold it to the code:
// real reports validate against it, and it describes every field the Go
// types have, no more, no fewer.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/zerocheck/zerocheck/report"
)

// reportSchemaPath is the schema, from the repository root.
const reportSchemaPath = "docs/report.schema.json"

// compileReportSchema compiles the published schema with a full draft
// 2020-12 validator.
func compileReportSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(readRepoFile(t, reportSchemaPath)))
	if err != nil {
		t.Fatalf("%s: %v", reportSchemaPath, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(reportSchemaPath, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(reportSchemaPath)
	if err != nil {
		t.Fatalf("%s: %v", reportSchemaPath, err)
	}
	return s
}

// validateReports validates each JSON report of out (one or several, one
// after another, as --json writes them) and returns them decoded.
func validateReports(t *testing.T, s *jsonschema.Schema, what, out string) []map[string]any {
	t.Helper()
	var reports []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(inst); err != nil {
			t.Errorf("%s does not fit %s: %v", what, reportSchemaPath, err)
		}
		var m map[string]any
		json.Unmarshal(raw, &m)
		reports = append(reports, m)
	}
	if len(reports) == 0 {
		t.Fatalf("%s: no report in %q", what, out)
	}
	return reports
}

// TestReportSchemaGolden: the recorded reports under report/testdata (of
// every verdict, with and without host facts, streams and regions) fit
// the schema.
func TestReportSchemaGolden(t *testing.T) {
	s := compileReportSchema(t)
	files, err := filepath.Glob(filepath.Join(repoRoot, "report", "testdata", "*.json"))
	if err != nil || len(files) < 5 {
		t.Fatalf("report/testdata: %d JSON reports, %v", len(files), err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		validateReports(t, s, "report/testdata/"+filepath.Base(f), string(b))
	}
}

// counterStream is the counter pattern from offset 0: each 8-byte word
// holds its own offset.
func counterStream(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(i))
	}
	return b
}

// TestReportSchemaRealRuns: reports of real runs fit the schema, one of
// each verdict: a clean loopback (with this host's facts), a network run
// through a corrupting relay (both ends' reports, streams both ways, both
// hosts' facts), a capture corrupted in every kind the verifier knows, a
// short stream and a refused connection (incomplete), and a stream of
// another pattern (mismatch).
func TestReportSchemaRealRuns(t *testing.T) {
	s := compileReportSchema(t)
	want := func(what string, m map[string]any, verdict string) {
		t.Helper()
		if m["verdict"] != verdict {
			t.Errorf("%s: verdict %v, want %s", what, m["verdict"], verdict)
		}
	}

	code, out, stderr := runBin(t, "", nil, "loopback", "--bytes", "4MiB", "--streams", "2", "--json", "-q")
	if code != 0 {
		t.Fatalf("loopback: exit %d: %s", code, stderr)
	}
	want("loopback", validateReports(t, s, "loopback", out)[0], "clean")

	r := recvOnce(t)
	rl := start(t, true, "relay", "--listen", "127.0.0.1:0", "--to", r.addr, "--inject", "block@65536:5,bitflip@300000:3")
	p := start(t, false, "send", "--json", "-q", rl.addr, "--bytes", "2MiB", "--bidir", "--pattern", "random")
	if code := p.wait(t); code != 1 {
		t.Fatalf("send through a corrupting relay: exit %d, want 1: %s", code, p.stderr())
	}
	r.wait(t)
	want("send through a corrupting relay", validateReports(t, s, "send through a corrupting relay", p.out.String())[0], "corrupt")
	want("recv through a corrupting relay", validateReports(t, s, "recv through a corrupting relay", r.out.String())[0], "corrupt")

	// A capture of the counter pattern with a bit flipped, a zeroed run,
	// displaced data and two 16-byte blocks, each repeated: every kind.
	capture := counterStream(1 << 20)
	capture[1000] ^= 0x04
	clear(capture[8192 : 8192+64])
	copy(capture[65536:65536+64], counterStream(4096 + 64)[4096:])
	block := bytes.Repeat([]byte{0x5a}, 16)
	for _, off := range []int{200000, 200016, 400000, 400016} {
		copy(capture[off:off+16], block)
	}
	code, out, stderr = runBin(t, "", bytes.NewReader(capture), "verify", "--pattern", "counter", "--json")
	if code != 1 {
		t.Fatalf("verify of a corrupted capture: exit %d: %s", code, stderr)
	}
	m := validateReports(t, s, "verify of a corrupted capture", out)[0]
	want("verify of a corrupted capture", m, "corrupt")
	var kinds []string
	for _, g := range m["regions"].([]any) {
		kinds = append(kinds, g.(map[string]any)["kind"].(string))
	}
	slices.Sort(kinds)
	if kinds = slices.Compact(kinds); !slices.Equal(kinds, []string{"bitflip", "block", "displaced", "zeroed"}) {
		t.Errorf("kinds %v, want every kind but burst", kinds)
	}
	if len(m["repeated_blocks"].([]any)) == 0 {
		t.Error("no repeated blocks: the schema of repeated_blocks went untested")
	}

	code, out, _ = runBin(t, "", bytes.NewReader(make([]byte, 1<<20)), "verify", "--bytes", "2MiB", "--json")
	if code != 3 {
		t.Errorf("verify of a short stream: exit %d, want 3", code)
	}
	want("verify of a short stream", validateReports(t, s, "verify of a short stream", out)[0], "incomplete")

	code, m, _ = send(t, "127.0.0.1:"+freePort(t), "--bytes", "1MiB")
	if code != 3 {
		t.Errorf("send to a closed port: exit %d, want 3", code)
	}
	b, _ := json.Marshal(m)
	want("send to a closed port", validateReports(t, s, "send to a closed port", string(b))[0], "incomplete")

	code, out, _ = runBin(t, "", bytes.NewReader(counterStream(1<<20)), "verify", "--pattern", "zeros", "--json")
	if code != 2 {
		t.Errorf("verify of another pattern: exit %d, want 2", code)
	}
	want("verify of another pattern", validateReports(t, s, "verify of another pattern", out)[0], "mismatch")
}

// TestReportSchemaDescribesEveryField: the schema names exactly the JSON
// fields of report.Report and of every type it holds (host facts
// included), requires those that are always written (no omitempty), and
// allows no others (additionalProperties false), so that a field added to
// the Go types without a line in the schema fails here.
func TestReportSchemaDescribesEveryField(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal([]byte(readRepoFile(t, reportSchemaPath)), &schema); err != nil {
		t.Fatal(err)
	}
	if schema["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema %v, want draft 2020-12", schema["$schema"])
	}
	defs, _ := schema["$defs"].(map[string]any)
	resolve := func(node map[string]any) map[string]any {
		for {
			if ref, ok := node["$ref"].(string); ok {
				next, ok := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
				if !ok {
					t.Fatalf("%s: no definition", ref)
				}
				node = next
				continue
			}
			if alts, ok := node["oneOf"].([]any); ok { // null or the thing itself
				for _, a := range alts {
					if a.(map[string]any)["type"] != "null" {
						node = a.(map[string]any)
					}
				}
				continue
			}
			return node
		}
	}
	marshaler := reflect.TypeFor[json.Marshaler]()
	structs := 0
	var walk func(where string, typ reflect.Type, node map[string]any)
	walk = func(where string, typ reflect.Type, node map[string]any) {
		node = resolve(node)
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ == reflect.TypeFor[time.Time]() || typ.Implements(marshaler) {
			return // a string of its own format
		}
		switch typ.Kind() {
		case reflect.Slice:
			items, ok := node["items"].(map[string]any)
			if !ok {
				t.Errorf("%s: a list, but the schema gives no items", where)
				return
			}
			walk(where+"[]", typ.Elem(), items)
			return
		case reflect.Map:
			values, ok := node["additionalProperties"].(map[string]any)
			if !ok {
				t.Errorf("%s: a map, but the schema gives no additionalProperties schema", where)
				return
			}
			walk(where+"{}", typ.Elem(), values)
			return
		case reflect.Struct:
		default:
			return
		}
		structs++
		props, _ := node["properties"].(map[string]any)
		if node["additionalProperties"] != false {
			t.Errorf("%s (%s): additionalProperties is not false", where, typ)
		}
		var required []string
		for _, r := range node["required"].([]any) {
			required = append(required, r.(string))
		}
		fields := map[string]bool{}
		for f := range typ.Fields() {
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields[name] = true
			p, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("%s: field %q (%s.%s) is not in %s: describe it", where, name, typ, f.Name, reportSchemaPath)
				continue
			}
			if _, hasDesc := resolveDescription(p); !hasDesc && p["$ref"] == nil {
				t.Errorf("%s.%s: no description", where, name)
			}
			omitempty := strings.Contains(","+opts+",", ",omitempty,")
			if req := slices.Contains(required, name); req == omitempty {
				t.Errorf("%s.%s: required %v in the schema, but omitempty is %v in %s", where, name, req, omitempty, typ)
			}
			walk(where+"."+name, f.Type, p)
		}
		for name := range props {
			if !fields[name] {
				t.Errorf("%s: the schema describes %q, which %s does not have", where, name, typ)
			}
		}
	}
	walk("report", reflect.TypeFor[report.Report](), schema)
	if structs < 15 {
		t.Errorf("only %d object types compared: is the walk broken?", structs)
	}
}

// resolveDescription returns a property's description.
func resolveDescription(p map[string]any) (string, bool) {
	d, ok := p["description"].(string)
	return d, ok && d != ""
}
