package safefile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("hello"), 0o644)
	if b, err := Read(small, 5); err != nil || string(b) != "hello" {
		t.Errorf("Read of a file at the limit: %q %v", b, err)
	}
	if b, err := Read(small, 3); err != nil || string(b) != "hell" {
		t.Errorf("Read of a file over the limit: %q %v, want max+1 bytes", b, err)
	}
	// A FIFO with no writer would block a plain open for ever.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(fifo, 10); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Read of a FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read blocked on a FIFO")
	}
	if _, err := Read(dir, 10); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Read of a directory: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "none"), 10); !os.IsNotExist(err) {
		t.Errorf("Read of nothing: %v", err)
	}
}
