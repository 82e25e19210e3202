#include "textflag.h"

// func prefetch(addr uintptr)
TEXT ·prefetch(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ addr+0(FP), AX
	PREFETCHT0 (AX)
	RET

// func prefetch2(addr uintptr)
TEXT ·prefetch2(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ addr+0(FP), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	RET

// func prefetchw2(addr uintptr)
TEXT ·prefetchw2(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ addr+0(FP), AX
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08             // PREFETCHW (AX)
	BYTE $0x0F; BYTE $0x0D; BYTE $0x48; BYTE $0x40 // PREFETCHW 64(AX)
	RET
