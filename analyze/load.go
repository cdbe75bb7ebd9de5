package analyze

import (
	"errors"
	"fmt"
	"github.com/zerocheck/zerocheck/internal/safefile"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MaxFileSize bounds what is read of one file: a year of nightly recv
// --json output fits many times over, and a stray disk image in a
// reports directory cannot take the tool's memory. Reading a file costs
// a few times its size whatever it holds, as Parse decodes only what the
// analysis counts.
const MaxFileSize = 256 << 20

// Skipped is a file, or the rest of one, left out of the analysis.
type Skipped struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// Load reads the reports at paths into a Fleet. A path is a file or a
// directory, walked to any depth. In a directory only regular *.json
// files are read: names starting with "." (temporary files of atomic
// writers, hidden directories) are passed over, as are other extensions,
// which a reports directory holds as logs and notes; a file named
// explicitly is read whatever its name. A path read twice counts once.
//
// Nothing stops the load: every file that cannot be read or is not a
// report is listed in Fleet.Skipped with the reason, and the rest is
// analysed.
func Load(paths []string) *Fleet {
	fl := NewFleet()
	seen := map[string]bool{}
	file := func(path string) {
		// The same file met through a symlinked directory is still the
		// same file.
		key, err := filepath.EvalSymlinks(path)
		if err == nil {
			key, err = filepath.Abs(key)
		}
		if err != nil {
			key = filepath.Clean(path)
		}
		if seen[key] {
			return
		}
		seen[key] = true
		fl.loadFile(path)
	}
	for _, root := range paths {
		st, err := os.Stat(root)
		if err != nil {
			fl.skip(root, err)
			continue
		}
		if !st.IsDir() {
			file(root)
			continue
		}
		// WalkDir does not follow symlinked directories, so a link back
		// up the tree cannot loop. Nor does it follow a symlinked root,
		// such as /var/log/zerocheck linked to a larger disk; a trailing
		// separator makes the kernel resolve that one.
		top := root
		if lst, err := os.Lstat(root); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
			top = root + string(filepath.Separator)
		}
		err = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				fl.skip(path, err)
				return nil
			}
			if path != top && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".json") {
				file(path)
			}
			return nil
		})
		if err != nil {
			fl.skip(root, err)
		}
	}
	return fl
}

// loadFile adds the reports of one file, or says why it has none.
func (fl *Fleet) loadFile(path string) {
	data, err := readFile(path)
	if err != nil {
		fl.skip(path, err)
		return
	}
	n := fl.Reports
	err = decode(data, fl.AddSummary)
	if fl.Reports > n {
		fl.Files++
	}
	if err != nil {
		fl.skip(path, err)
	}
}

// readFile reads a regular file of at most MaxFileSize bytes, without
// blocking on a FIFO or a device: a directory walk must not hang on what
// it happens to meet.
func readFile(path string) ([]byte, error) {
	b, err := safefile.Read(path, MaxFileSize)
	if err == nil && len(b) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d MiB", MaxFileSize>>20)
	}
	return b, err
}

// skip records why path was left out. The path leads the warning, so an
// error that names it again (*fs.PathError) gives only its cause.
func (fl *Fleet) skip(path string, err error) {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	fl.Skipped = append(fl.Skipped, Skipped{File: path, Reason: err.Error()})
}
