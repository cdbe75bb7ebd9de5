//go:build amd64 && !purego

#include "textflag.h"

// lanes holds k*golden for k = 0..7, and the multiplier constants of
// fmix64 and the step 8*golden, for broadcast.
DATA lanes<>+0(SB)/8, $0x0000000000000000
DATA lanes<>+8(SB)/8, $0x9e3779b97f4a7c15
DATA lanes<>+16(SB)/8, $0x3c6ef372fe94f82a
DATA lanes<>+24(SB)/8, $0xdaa66d2c7ddf743f
DATA lanes<>+32(SB)/8, $0x78dde6e5fd29f054
DATA lanes<>+40(SB)/8, $0x1715609f7c746c69
DATA lanes<>+48(SB)/8, $0xb54cda58fbbee87e
DATA lanes<>+56(SB)/8, $0x538454127b096493
GLOBL lanes<>(SB), RODATA|NOPTR, $64

DATA consts<>+0(SB)/8, $0xff51afd7ed558ccd
DATA consts<>+8(SB)/8, $0xc4ceb9fe1a85ec53
DATA consts<>+16(SB)/8, $0xf1bbcdcbfa53e0a8
GLOBL consts<>(SB), RODATA|NOPTR, $24

// MIX computes fmix64 of each lane of Z0 into Z5, using Z6 as scratch;
// Z2 and Z3 hold the multipliers.
#define MIX \
	VPSRLQ  $33, Z0, Z6 \
	VPXORQ  Z6, Z0, Z5 \
	VPMULLQ Z2, Z5, Z5 \
	VPSRLQ  $33, Z5, Z6 \
	VPXORQ  Z6, Z5, Z5 \
	VPMULLQ Z3, Z5, Z5 \
	VPSRLQ  $33, Z5, Z6 \
	VPXORQ  Z6, Z5, Z5

#define SETUP \
	VPBROADCASTQ AX, Z0 \
	VPADDQ       lanes<>(SB), Z0, Z0 \
	VPBROADCASTQ consts<>+0(SB), Z2 \
	VPBROADCASTQ consts<>+8(SB), Z3 \
	VPBROADCASTQ consts<>+16(SB), Z1

// func randomFill64(dst *byte, n int, z uint64)
TEXT ·randomFill64(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ z+16(FP), AX
	TESTQ CX, CX
	JZ   fill_done
	SETUP

fill_loop:
	MIX
	VMOVDQU64 Z5, (DI)
	VPADDQ    Z1, Z0, Z0
	ADDQ      $64, DI
	DECQ      CX
	JNZ       fill_loop
	VZEROUPPER

fill_done:
	RET

// func randomMatch64(src *byte, n int, z uint64) int
TEXT ·randomMatch64(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ z+16(FP), AX
	XORQ DX, DX
	TESTQ CX, CX
	JZ   match_done
	SETUP

match_loop:
	MIX
	VPCMPUQ  $4, (SI), Z5, K1
	KORTESTB K1, K1
	JNZ      match_end
	VPADDQ   Z1, Z0, Z0
	ADDQ     $64, SI
	INCQ     DX
	CMPQ     DX, CX
	JNE      match_loop

match_end:
	VZEROUPPER

match_done:
	MOVQ DX, ret+24(FP)
	RET
