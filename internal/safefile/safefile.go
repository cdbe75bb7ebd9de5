// Package safefile reads files whose path may name anything: another
// program's FIFO, a device, a file that grows while it is read.
package safefile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Read returns the contents of the regular file at path, at most max+1
// bytes of them: a result longer than max says the file is too large,
// and the caller says what that means. O_NONBLOCK and the regular-file
// check keep a FIFO or a device at path from blocking the open or the
// read; the buffer is sized by the file's size, not by max.
func Read(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	b := bytes.NewBuffer(make([]byte, 0, min(st.Size(), max+1)+bytes.MinRead))
	if _, err := b.ReadFrom(io.LimitReader(f, max+1)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
