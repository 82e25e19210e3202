package dataplane

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ProgramName is the kernel name of ctswitch's XDP program. Open uses it to
// tell its own (possibly stale) program from someone else's.
const ProgramName = "ctswitch_xsk"

const xskMapName = "ctswitch_xsks"

// FilterPass is the label a Filter jumps to in order to hand the frame to
// the kernel (XDP_PASS) instead of the switch.
const FilterPass = "ctswitch_pass"

// XDP verdicts, IFLA_XDP_ATTACHED values and IFLA_XDP_FLAGS (uapi if_link.h).
const (
	xdpPass = 2

	xdpAttachedDrv   = 1
	xdpAttachedSKB   = 2
	xdpAttachedHW    = 3
	xdpAttachedMulti = 4

	xdpFlagsUpdateIfNoExist = 1 << 0
	xdpFlagsSKBMode         = 1 << 1
	xdpFlagsDrvMode         = 1 << 2
	xdpFlagsHWMode          = 1 << 3
)

// Filter is the hook for ports where the switch must see only part of the
// traffic (underlay ports: tunnel packets for a local endpoint). Its
// instructions run first, with the xdp_md context in R6 (R6-R9 are callee
// saved; R1-R5 and R0 are free to use). To give a frame to the kernel they
// jump to FilterPass; falling off the end redirects the frame to the
// queue's socket. Maps the filter uses are the caller's (asm.LoadMapPtr
// with their FD) and must stay open while the port is.
type Filter struct {
	Name         string // for error messages
	Instructions asm.Instructions
}

// newXSKMap creates the queue -> socket map. Sized by the interface's queue
// count, so frames on queues without a socket find an empty slot (PASS).
func newXSKMap(entries int) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       xskMapName,
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(entries),
	})
	if err != nil {
		return nil, fmt.Errorf("create XSKMAP: %w", err)
	}
	return m, nil
}

// Arrival stamps. Workers order the frames of one connection that arrive
// on different queues by the time the XDP program saw them (see Stamp): the
// program writes it into the frame's metadata area, which AF_XDP copies
// into the UMEM right in front of the frame, in copy mode too.
const (
	// StampLen is the metadata in front of each received frame:
	// CLOCK_MONOTONIC nanoseconds (8 bytes), stampMagic (4 bytes) and the
	// low 32 bits of the stamp xor stampMagic (4 bytes), all host order.
	StampLen      = 16
	stampMagic    = 0xc75a7e01
	redirectLabel = "ctswitch_redirect"
)

// stampMagicImm is stampMagic as the 32-bit immediate the instruction holds.
var stampMagicImm = func() int32 { m := uint32(stampMagic); return int32(m) }()

// stampInstructions write the arrival stamp (see StampLen) in front of the
// frame. Where the kernel has no metadata room the frame goes on unstamped
// and the worker falls back to its own receive time.
func stampInstructions() asm.Instructions {
	return asm.Instructions{
		asm.FnKtimeGetNs.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, -StampLen),
		asm.FnXdpAdjustMeta.Call(),
		asm.JNE.Imm(asm.R0, 0, redirectLabel),
		asm.LoadMem(asm.R2, asm.R6, 8, asm.Word), // xdp_md.data_meta
		asm.LoadMem(asm.R3, asm.R6, 0, asm.Word), // xdp_md.data
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, StampLen),
		asm.JGT.Reg(asm.R4, asm.R3, redirectLabel), // the verifier wants the bounds check
		asm.StoreMem(asm.R2, 0, asm.R7, asm.DWord),
		asm.Mov.Imm32(asm.R5, stampMagicImm),
		asm.StoreMem(asm.R2, 8, asm.R5, asm.Word),
		asm.Xor.Reg32(asm.R7, asm.R5),
		asm.StoreMem(asm.R2, 12, asm.R7, asm.Word),
	}
}

// newProgram builds and loads the XDP program:
//
//	r6 = ctx
//	<filter>                              ; may jump to FilterPass
//	<arrival stamp into the metadata>     ; see stampInstructions
//	return bpf_redirect_map(xsks, ctx->rx_queue_index, XDP_PASS)
//	FilterPass: return XDP_PASS
//
// The XDP_PASS in the flags argument is what bpf_redirect_map returns when
// the slot is empty (kernel >= 5.3): no socket on that queue, kernel path.
func newProgram(xsks *ebpf.Map, f *Filter) (*ebpf.Program, error) {
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	if f != nil {
		insns = append(insns, f.Instructions...)
	}
	insns = append(insns, stampInstructions()...)
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.R6, 16, asm.Word).WithSymbol(redirectLabel), // struct xdp_md.rx_queue_index
		asm.LoadMapPtr(asm.R1, xsks.FD()),
		asm.Mov.Imm(asm.R3, xdpPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),
	)
	if f != nil {
		// Only with a filter: the verifier rejects unreachable code.
		insns = append(insns,
			asm.Mov.Imm(asm.R0, xdpPass).WithSymbol(FilterPass),
			asm.Return(),
		)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         ProgramName,
		Type:         ebpf.XDP,
		License:      "Dual MIT/GPL",
		Instructions: insns,
	})
	if err != nil {
		what := "XDP program"
		if f != nil {
			what = fmt.Sprintf("XDP program with filter %q", f.Name)
		}
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	return prog, nil
}

// attachedProg describes the XDP program currently on an interface.
type attachedProg struct {
	id   uint32
	mode uint32 // XDP_ATTACHED_DRV / SKB / HW / MULTI
	name string
}

func (a *attachedProg) String() string {
	return fmt.Sprintf("%q (id %d, %s mode)", a.name, a.id, attachModeName(a.mode))
}

func attachModeName(m uint32) string {
	switch m {
	case xdpAttachedDrv:
		return "driver"
	case xdpAttachedSKB:
		return "generic"
	case xdpAttachedHW:
		return "offload"
	case xdpAttachedMulti:
		return "several"
	}
	return fmt.Sprintf("mode %d", m)
}

// attachFlags are the netlink flags that address a program attached in mode m.
func attachFlags(m uint32) int {
	switch m {
	case xdpAttachedSKB:
		return xdpFlagsSKBMode
	case xdpAttachedHW:
		return xdpFlagsHWMode
	}
	return xdpFlagsDrvMode
}

// inspectXDP returns the XDP program on link, or nil.
func inspectXDP(link netlink.Link) *attachedProg {
	x := link.Attrs().Xdp
	if x == nil || !x.Attached {
		return nil
	}
	a := &attachedProg{id: x.ProgId, mode: x.AttachMode}
	if x.AttachMode == xdpAttachedMulti || x.ProgId == 0 {
		a.name = "(several programs)"
		return a
	}
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId))
	if err != nil {
		a.name = "(unknown: " + err.Error() + ")"
		return a
	}
	defer p.Close()
	if info, err := p.Info(); err == nil {
		a.name = info.Name
	}
	return a
}

// removeStale removes a ctswitch program that a legacy (netlink) attach
// left behind. A program held by a live bpf_link can't be removed that way
// (EBUSY): then another ctswitch port is using the interface.
func removeStale(ns netns.NsHandle, link netlink.Link, a *attachedProg) error {
	err := setXDPFd(ns, link.Attrs().Index, -1, attachFlags(a.mode))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w: %s already has ctswitch's XDP program %s attached through a live bpf_link (another open port, in this or another process)",
			ErrInUse, link.Attrs().Name, a)
	default:
		return fmt.Errorf("remove stale ctswitch XDP program %s from %s: %w", a, link.Attrs().Name, err)
	}
}
