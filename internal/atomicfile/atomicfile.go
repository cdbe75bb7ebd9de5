// Package atomicfile writes files that readers see either whole or not at
// all: report files feed weeks of correlation and metrics files feed
// alerting, so a crash, a full disk or a kill -9 mid-write must never
// leave a half-written file under the real name.
//
// Each write goes to a temp file in the target's directory (a rename is
// atomic only within one file system), named "." + base + ".tmp-" + 16
// hex digits: the leading dot hides it from directory readers that skip
// dotfiles (node_exporter's textfile collector also wants *.prom), and the
// fixed shape lets CleanTemps recognise what a killed writer left.
// The file is flushed, fsynced and closed before it gets its name, and
// the directory is fsynced after, so the new name survives a power loss
// pointing at complete data. The file system must support rename over an
// existing file and, for WriteNew, hard links (every local Unix one does).
package atomicfile

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

const (
	tempMark   = ".tmp-"
	tempRandom = 16 // hex digits
	bufSize    = 64 << 10
	// maxNames bounds WriteNew's search so that a name function that
	// never changes cannot loop for ever.
	maxNames = 10000
)

// Write replaces the file at path with what write writes, atomically: a
// reader of path sees the old content or the new, never a mix or a part.
// The file gets mode perm exactly (the umask does not apply). On any error,
// including one returned by write (or a panic in it), the temp file is
// removed, the error names path, and the target is left as it was; but
// for a failed sync of the directory after the rename, when the new file
// is in place and may yet be lost to a power cut.
func Write(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp, err := writeTemp(filepath.Dir(path), filepath.Base(path), perm, write)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteNew is Write for a file that must not replace another: it writes
// the content once, then gives it the first of the names name(0),
// name(1), … (file names in dir) that is free, and returns that path.
// The name is taken with a hard link, which fails rather than replace, so
// two writers racing for one name, even in two processes, both keep their
// files. name(0) also names the temp file.
func WriteNew(dir string, name func(n int) string, perm os.FileMode, write func(io.Writer) error) (path string, err error) {
	first := filepath.Join(dir, name(0))
	tmp, err := writeTemp(dir, name(0), perm, write)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", first, err)
	}
	// The temp file goes whatever happens.
	defer os.Remove(tmp)
	for n := range maxNames {
		path = filepath.Join(dir, name(n))
		err = os.Link(tmp, path)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		// Now, not deferred, so that the directory sync below covers the
		// removal too. Its error does not matter: the data is safe under
		// its name, and CleanTemps takes a leftover.
		os.Remove(tmp)
		if err := syncDir(dir); err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		return path, nil
	}
	return "", fmt.Errorf("write %s: %d names taken", first, maxNames)
}

// writeTemp writes a complete, synced, closed temp file for base in dir
// and returns its path; on error it leaves nothing behind.
func writeTemp(dir, base string, perm os.FileMode, write func(io.Writer) error) (string, error) {
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return "", err
	}
	// A panicking write must not leave the temp file either, so the clean
	// up keys on reaching the end rather than on an error.
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, bufSize)
	if err := write(w); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	// After the close, so that the mode is perm exactly: a create's mode
	// goes through the umask.
	if err := os.Chmod(tmp, perm); err != nil {
		return "", err
	}
	done = true
	return tmp, nil
}

// createTemp is os.CreateTemp with a suffix of a shape CleanTemps can be
// sure of: CreateTemp promises only "a random string".
func createTemp(dir, base string) (*os.File, string, error) {
	for {
		var b [tempRandom / 2]byte
		rand.Read(b[:])
		tmp := filepath.Join(dir, "."+base+tempMark+hex.EncodeToString(b[:]))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, tmp, err
	}
}

// syncDir makes a rename or link in dir durable: on Linux the new
// directory entry is otherwise only in memory until the kernel flushes it.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// Windows cannot open a directory for syncing, and its renames
		// are durable through the file system's own journal.
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// isTemp reports whether name (a file name, not a path) has the shape of
// this package's temp files.
func isTemp(name string) bool {
	i := strings.LastIndex(name, tempMark)
	if i < 2 || name[0] != '.' {
		return false
	}
	rnd := name[i+len(tempMark):]
	if len(rnd) != tempRandom {
		return false
	}
	_, err := hex.DecodeString(rnd)
	return err == nil
}

// CleanTemps removes the temp files that writers killed mid-write left in
// dir, if last modified more than olderThan ago, and returns the paths it
// removed. A live writer's temp file is young, so olderThan should exceed
// the longest write; 0 removes all, which is safe only when nothing
// writes into dir. It goes on past a file it cannot remove and returns
// all such errors together.
func CleanTemps(dir string, olderThan time.Duration) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("clean temps in %s: %w", dir, err)
	}
	cutoff := time.Now().Add(-olderThan)
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTemp(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // its writer finished or another cleaner was first
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.ModTime().After(cutoff) {
			continue
		}
		if err := os.Remove(path); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, path)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("clean temps in %s: %w", dir, errors.Join(errs...))
	}
	return removed, nil
}
