#include "textflag.h"

// func prefetch(addr uintptr)
TEXT ·prefetch(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ addr+0(FP), AX
	PREFETCHT0 (AX)
	RET

// func prefetchEntryLines(addr uintptr)
TEXT ·prefetchEntryLines(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ addr+0(FP), AX
	CMPB ·havePrefetchW(SB), $0
	JEQ plain
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08             // PREFETCHW (AX)
	BYTE $0x0F; BYTE $0x0D; BYTE $0x48; BYTE $0x40 // PREFETCHW 64(AX)
	RET
plain:
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	RET

// func cpuidPrefetchW() bool
// CPUID 0x80000001: ECX bit 8 (PRFCHW, "3DNowPrefetch").
TEXT ·cpuidPrefetchW(SB),NOSPLIT,$0-1
	MOVL $0x80000000, AX
	CPUID
	CMPL AX, $0x80000001
	JB no
	MOVL $0x80000001, AX
	XORL CX, CX
	CPUID
	SHRL $8, CX
	ANDL $1, CX
	MOVB CX, ret+0(FP)
	RET
no:
	MOVB $0, ret+0(FP)
	RET
