package main

// The command-line reference (docs/cli/zerocheck_CMD.md) and the man pages
// (docs/man/zerocheck-CMD.1) are generated from this command tree by
// TestCLIReference, which fails when the committed ones are stale; "go
// generate ./cmd/zerocheck" rewrites them.

//go:generate go test -run ^TestCLIReference$ -update .
