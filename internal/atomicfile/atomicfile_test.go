package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// names lists dir's entries, dotfiles included.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// TestWriteFails checks that a failed write leaves the directory as it
// was: no target if there was none, the old target untouched if there
// was one, and no temp file either way.
func TestWriteFails(t *testing.T) {
	errBoom := errors.New("boom")
	big := strings.Repeat("x", 3*bufSize) // past the buffer: the temp file has data
	cases := []struct {
		name     string
		existing string // "" for no target before
		write    func(io.Writer) error
	}{
		{"error at once, no target", "", func(io.Writer) error { return errBoom }},
		{"error after data, no target", "", func(w io.Writer) error {
			io.WriteString(w, big)
			return errBoom
		}},
		{"error after data, target kept", "old content\n", func(w io.Writer) error {
			io.WriteString(w, big)
			return errBoom
		}},
		{"panic after data, target kept", "old content\n", func(w io.Writer) error {
			io.WriteString(w, big)
			panic(errBoom)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "target")
			want := []string{}
			if c.existing != "" {
				if err := os.WriteFile(path, []byte(c.existing), 0o644); err != nil {
					t.Fatal(err)
				}
				want = []string{"target"}
			}
			err := func() (err error) {
				defer func() {
					if v := recover(); v != nil {
						err = v.(error)
					}
				}()
				return Write(path, 0o644, c.write)
			}()
			if !errors.Is(err, errBoom) {
				t.Fatalf("err = %v, want %v", err, errBoom)
			}
			if got := names(t, dir); !slices.Equal(got, want) {
				t.Errorf("directory holds %q, want %q", got, want)
			}
			if c.existing != "" {
				got, err := os.ReadFile(path)
				if err != nil || string(got) != c.existing {
					t.Errorf("target now %q (%v), want %q", got, err, c.existing)
				}
			}
		})
	}
}

// TestWriteErrorNamesPath checks that errors the package makes itself
// say which file they are about: the caller often just logs them.
func TestWriteErrorNamesPath(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(filepath.Join(full, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	fail := func(io.Writer) error { return errors.New("boom") }
	cases := []struct {
		name  string
		path  string
		write func(io.Writer) error
	}{
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "f"), writeString("x")},
		{"rename over a directory", full, writeString("x")},
		{"write fails", filepath.Join(dir, "f"), fail},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Write(c.path, 0o644, c.write)
			if err == nil || !strings.Contains(err.Error(), c.path) {
				t.Errorf("err = %v, want one naming %s", err, c.path)
			}
			if got := names(t, dir); !slices.Equal(got, []string{"full"}) {
				t.Errorf("directory holds %q", got)
			}
		})
	}
}

// TestWriteReplaces checks that an existing file is replaced whole (a
// longer old file leaves no tail) with exactly the requested mode.
func TestWriteReplaces(t *testing.T) {
	cases := []struct {
		name string
		old  string
		new  string
		perm os.FileMode
	}{
		{"shorter over longer", strings.Repeat("old ", 100000), "new\n", 0o644},
		{"longer over shorter", "old\n", strings.Repeat("new ", 100000), 0o600},
		{"empty", "old\n", "", 0o640},
		{"no old file", "", "new\n", 0o644},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "target")
			if c.old != "" {
				if err := os.WriteFile(path, []byte(c.old), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := Write(path, c.perm, writeString(c.new)); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.new {
				t.Errorf("content: %d bytes, want %d", len(got), len(c.new))
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != c.perm {
				t.Errorf("mode %v, want %v", info.Mode().Perm(), c.perm)
			}
			if got := names(t, dir); !slices.Equal(got, []string{"target"}) {
				t.Errorf("directory holds %q", got)
			}
		})
	}
}

func numbered(base string) func(int) string {
	return func(n int) string {
		if n == 0 {
			return base
		}
		return fmt.Sprintf("%s-%d", base, n)
	}
}

// TestWriteNew checks that WriteNew never replaces a file, even when many
// writers race for the same names.
func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "r"), []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	const writers = 20
	var wg sync.WaitGroup
	paths := make([]string, writers)
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			paths[i], errs[i] = WriteNew(dir, numbered("r"), 0o644, writeString(fmt.Sprint(i)))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "r")); string(got) != "first" {
		t.Errorf("existing file replaced: now %q", got)
	}
	for i, p := range paths {
		got, err := os.ReadFile(p)
		if err != nil || string(got) != fmt.Sprint(i) {
			t.Errorf("writer %d: %s holds %q (%v)", i, p, got, err)
		}
	}
	want := []string{"r"}
	for n := 1; n <= writers; n++ {
		want = append(want, fmt.Sprintf("r-%d", n))
	}
	got := names(t, dir)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("directory holds %q, want %q", got, want)
	}
}

// TestWriteNewFails checks that a failed WriteNew leaves no file.
func TestWriteNewFails(t *testing.T) {
	dir := t.TempDir()
	_, err := WriteNew(dir, numbered("r"), 0o644, func(io.Writer) error { return errors.New("boom") })
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "r")) {
		t.Errorf("err = %v, want one naming the file", err)
	}
	if got := names(t, dir); len(got) > 0 {
		t.Errorf("directory holds %q", got)
	}
}

// TestCleanTemps checks that CleanTemps takes only this package's temp
// files, and only old ones.
func TestCleanTemps(t *testing.T) {
	old := time.Now().Add(-2 * time.Hour)
	cases := []struct {
		name    string
		age     time.Time // zero: now
		removed bool
	}{
		{".report.json.tmp-0123456789abcdef", old, true},
		{".zerocheck.prom.tmp-fedcba9876543210", old, true},
		{".young.tmp-0123456789abcdef", time.Time{}, false},
		{"report.json.tmp-0123456789abcdef", old, false},  // no dot: not ours
		{".report.json.tmp-0123456789abcdeg", old, false}, // not hex
		{".report.json.tmp-0123456789abcde", old, false},  // short
		{".tmp-0123456789abcdef", old, false},             // no base
		{".hidden", old, false},
		{"report.json", old, false},
	}
	dir := t.TempDir()
	var want []string
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if !c.age.IsZero() {
			if err := os.Chtimes(p, c.age, c.age); err != nil {
				t.Fatal(err)
			}
		}
		if c.removed {
			want = append(want, p)
		}
	}
	// A directory of the temp shape is not a temp file.
	if err := os.Mkdir(filepath.Join(dir, ".d.tmp-0123456789abcdef"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := CleanTemps(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("removed %q, want %q", got, want)
	}
	for _, c := range cases {
		_, err := os.Stat(filepath.Join(dir, c.name))
		if exists := err == nil; exists == c.removed {
			t.Errorf("%s: exists %v after clean", c.name, exists)
		}
	}
}

// TestTempNameShape checks that the names Write gives its temp files are
// the names CleanTemps takes.
func TestTempNameShape(t *testing.T) {
	dir := t.TempDir()
	var tmp string
	err := Write(filepath.Join(dir, "report.json"), 0o644, func(io.Writer) error {
		for _, n := range names(t, dir) {
			tmp = n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tmp, ".report.json.tmp-") || !isTemp(tmp) {
		t.Errorf("temp file %q", tmp)
	}
}
