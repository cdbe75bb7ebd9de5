package atomicfile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The kill test runs this test binary again as a child that writes files
// until the parent kills it (the os/exec pattern of the standard library's
// own tests). These variables tell the child what to do.
const (
	childDirEnv   = "ZEROCHECK_ATOMICFILE_CHILD_DIR"
	childStallEnv = "ZEROCHECK_ATOMICFILE_CHILD_STALL"
)

// A checked file is magic, the payload length (8 bytes, big endian), the
// payload, and the SHA-256 of all before it: a file cut anywhere, or
// mixing two writes, fails the check.
var magic = []byte("ZCAF")

func writeChecked(w io.Writer, seed uint64, size int, midway func()) error {
	h := sha256.New()
	out := io.MultiWriter(w, h)
	var head [12]byte
	copy(head[:], magic)
	binary.BigEndian.PutUint64(head[4:], uint64(size))
	if _, err := out.Write(head[:]); err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	chunk := make([]byte, 64<<10)
	for done := 0; done < size; {
		if done >= size/2 && midway != nil {
			midway()
			midway = nil
		}
		n := min(len(chunk), size-done)
		rng.Read(chunk[:n])
		if _, err := out.Write(chunk[:n]); err != nil {
			return err
		}
		done += n
	}
	_, err := w.Write(h.Sum(nil))
	return err
}

func checkFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) < len(magic)+8+sha256.Size || !bytes.Equal(b[:len(magic)], magic) {
		return fmt.Errorf("%s: no header (%d bytes)", path, len(b))
	}
	size := binary.BigEndian.Uint64(b[4:12])
	if want := uint64(12+sha256.Size) + size; uint64(len(b)) != want {
		return fmt.Errorf("%s: %d bytes, header says %d", path, len(b), want)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return fmt.Errorf("%s: checksum mismatch", path)
	}
	return nil
}

// childWrite is the child's loop: replace f0..f3 in turn with Write, and
// every other time add a new file with WriteNew, printing "done" after
// each file. With stall set, it stops halfway through its third file and
// prints "stalled", so the parent's kill surely finds a temp file.
func childWrite(dir string, stall bool) {
	// The parent closing stdin (or dying) ends the child, so that a failed
	// parent leaves no writer behind.
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for i := range 1000 {
		var midway func()
		if stall && i == 2 {
			midway = func() {
				fmt.Println("stalled")
				select {}
			}
		}
		write := func(w io.Writer) error {
			return writeChecked(w, uint64(i), 3<<20+rand.IntN(2<<20), midway)
		}
		var err error
		if i%2 == 0 {
			err = Write(filepath.Join(dir, fmt.Sprintf("f%d", i%4)), 0o644, write)
		} else {
			_, err = WriteNew(dir, numbered("new"), 0o644, write)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("done")
	}
}

// TestKill kills a writer at random moments and checks that every file
// under a real name is whole, and that CleanTemps then takes every temp
// file the kills left.
func TestKill(t *testing.T) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		childWrite(dir, os.Getenv(childStallEnv) != "")
		return
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	const iterations = 20
	stalls := 0
	for i := range iterations {
		stall := i%4 == 3
		if stall {
			stalls++
		}
		killChild(t, rng, dir, stall)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				if err := checkFile(filepath.Join(dir, e.Name())); err != nil {
					t.Fatalf("iteration %d: %v", i, err)
				}
			}
		}
	}
	removed, err := CleanTemps(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each stalled child surely left one; the others may have.
	if len(removed) < stalls {
		t.Errorf("CleanTemps removed %d temp files, want at least %d", len(removed), stalls)
	}
	for _, n := range names(t, dir) {
		if strings.HasPrefix(n, ".") {
			t.Errorf("%s left after CleanTemps", n)
		}
	}
}

// killChild starts a writer in dir, lets it finish a random number of
// files (or stall), waits a random moment and kills it.
func killChild(t *testing.T, rng *rand.Rand, dir string, stall bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	if stall {
		cmd.Env = append(cmd.Env, childStallEnv+"=1")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A stalled child is killed once stalled; another after 1 to 3 files
	// and up to 5 ms into the next.
	want, until := 1+rng.IntN(3), "done"
	if stall {
		want, until = 1, "stalled"
	}
	lines := bufio.NewScanner(stdout)
	for seen := 0; seen < want && lines.Scan(); {
		if lines.Text() == until {
			seen++
		}
	}
	time.Sleep(time.Duration(rng.IntN(5000)) * time.Microsecond)
	cmd.Process.Kill() // an error here means it died first: Wait says how
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("child ended by itself (%v) before the kill: %s", err, stderr.Bytes())
	}
}
