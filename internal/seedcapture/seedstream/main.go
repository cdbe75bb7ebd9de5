// Command seedstream writes the incident's corrupt stream to stdout, for
// benchmarks that pipe it into zerocheck verify (bench/seed-capture.sh).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/zerocheck/zerocheck/internal/seedcapture"
)

func main() {
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(os.Stdout, seedcapture.Reader(), buf); err != nil {
		fmt.Fprintln(os.Stderr, "seedstream:", err)
		os.Exit(1)
	}
}
