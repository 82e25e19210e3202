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

// conn is one table entry. Kept small: memory per connection is a target
// (<= 160 bytes including the index). Labels live in a side map because
// few connections carry them.
type conn struct {
	key      Key    // canonical key
	deadline int64  // expiry time, ns
	next     uint32 // hash chain, or free list
	wprev    uint32 // expiry wheel links
	wnext    uint32
	mark     uint32
	born     uint32 // creation time in ms since the shard's epoch (UDP stream age)
	status   uint16
	wslot    uint16 // wheel slot the entry is linked into
	state    State
	tcp      tcpConn
}

func (c *conn) origKey() Key {
	if c.status&stOrigReversed != 0 {
		return c.key.Reverse()
	}
	return c.key
}
