//go:build amd64 && !purego

package pattern

import "golang.org/x/sys/cpu"

// useAVX512 runs the random pattern eight words at a time with AVX-512
// (VPMULLQ needs AVX512DQ): generating and checking random data is the
// costliest part of a random run, and on a host with few cores it
// competes with the kernel's own copying.
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// randomFill64 writes n*64 bytes of the random pattern to dst: word k is
// fmix64(z + k*golden).
//
//go:noescape
func randomFill64(dst *byte, n int, z uint64)

// randomMatch64 compares up to n 64-byte groups of src with the random
// pattern from z and returns how many leading groups match exactly.
//
//go:noescape
func randomMatch64(src *byte, n int, z uint64) int
