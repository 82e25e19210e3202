package conntrack

// Per-direction TCP window state, Linux's struct ip_ct_tcp_state.
type tcpDir struct {
	end    uint32 // highest seq+len seen (td_end)
	maxEnd uint32 // highest ack+window the peer advertised (td_maxend)
	maxWin uint32 // largest window seen, scaled (td_maxwin); 0 = direction not seen yet
	maxAck uint32 // highest ack sent (td_maxack)
	scale  uint8  // window scale shift (td_scale)
	flags  uint8  // tcpFlag*
}

// tcpDir.flags, as Linux's IP_CT_TCP_FLAG_*.
const (
	tcpFlagWindowScale = 1 << iota
	tcpFlagSackPerm
	tcpFlagCloseInit
	tcpFlagBeLiberal
	tcpFlagDataUnacked
	tcpFlagMaxAckSet
)

// last_flags extras.
const (
	tcpLastChallengeACK = 1 << 6 // IP_CT_EXP_CHALLENGE_ACK
	tcpLastSimOpen      = 1 << 7 // IP_CT_TCP_SIMULTANEOUS_OPEN
)

// tcpConn is Linux's struct ip_ct_tcp: both directions plus the memory of the
// last packet, which the special cases (ignored SYNs, challenge ACKs, RST
// trains) consult.
type tcpConn struct {
	seen      [2]tcpDir
	lastSeq   uint32
	lastAck   uint32
	lastEnd   uint32
	lastWin   uint16
	lastIndex uint8
	lastDir   uint8
	lastScale uint8
	lastFlags uint8
	retrans   uint8
}

// conn.status bits.
const (
	stOrigReversed = 1 << iota // the original direction is the reverse of the canonical key
	stSeenReply
	stAssured
	stHasLabels
	stInUse
)

// conn is one table entry: exactly 128 bytes, two cache lines. The first
// holds what a lookup reads (key, deadline, status), the second what the
// TCP tracker updates. Memory per connection is a target (<= 160 bytes
// with the index), so times are 32-bit ticks (see tick) and labels live in
// a side map because few connections carry them.
type conn struct {
	key      Key    // canonical key
	deadline uint32 // expiry, in ticks
	wprev    uint32 // expiry wheel links
	wnext    uint32
	mark     uint32
	born     uint32 // creation, in ticks (UDP stream age, exported age)
	status   uint8
	state    State
	wslot    uint16 // wheel slot the entry is linked into
	tcp      tcpConn
	hash     uint32 // low word of the key's hash: where the index files it
}

func (c *conn) origKey() Key {
	if c.status&stOrigReversed != 0 {
		return c.key.Reverse()
	}
	return c.key
}

// Time inside a shard is kept in ticks of 2^24 ns (about 16.8 ms) since the
// shard's epoch, in 32 bits. Deadlines are compared modulo 2^32, which is
// exact while they lie within +-1.1 years of now; timeouts are capped at
// 365 days and the expiry wheel visits every entry at least once per
// revolution (about 73 minutes), so none drifts out of range.
const tickShift = 24

func durTicks(d int64) uint32 { return uint32((d + 1<<tickShift - 1) >> tickShift) }

func ticksDur(t int32) int64 { return int64(t) << tickShift }
