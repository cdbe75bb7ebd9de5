//go:build !amd64 || purego

package pattern

var useAVX512 = false

func randomFill64(dst *byte, n int, z uint64)      { panic("unreachable") }
func randomMatch64(src *byte, n int, z uint64) int { panic("unreachable") }
