package packet

// EtherTypes this package knows about.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeTEB  = 0x6558 // Transparent Ethernet Bridging (GRE/Geneve payload)
	EtherTypeVLAN = 0x8100 // 802.1Q C-tag
	EtherTypeIPv6 = 0x86DD
	EtherTypeQinQ = 0x88A8 // 802.1ad S-tag
)

// IP protocol numbers (IPv4 Protocol / IPv6 Next Header).
const (
	ProtoHopByHop = 0
	ProtoICMP     = 1
	ProtoIPIP     = 4
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoIPv6     = 41
	ProtoRouting  = 43
	ProtoIPv6Frag = 44
	ProtoGRE      = 47
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNoNext   = 59
	ProtoDstOpts  = 60
	ProtoSCTP     = 132
	ProtoUDPLite  = 136
)

// TCP flags as found in byte 13 of the TCP header.
const (
	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagPSH = 0x08
	TCPFlagACK = 0x10
	TCPFlagURG = 0x20
	TCPFlagECE = 0x40
	TCPFlagCWR = 0x80
)

// ICMPv4 types and codes (RFC 792, RFC 1191).
const (
	ICMPv4EchoReply      = 0
	ICMPv4DstUnreach     = 3
	ICMPv4SourceQuench   = 4
	ICMPv4Redirect       = 5
	ICMPv4EchoRequest    = 8
	ICMPv4TimeExceeded   = 11
	ICMPv4ParamProblem   = 12
	ICMPv4Timestamp      = 13
	ICMPv4TimestampReply = 14
	ICMPv4InfoRequest    = 15
	ICMPv4InfoReply      = 16

	// ICMPv4CodeFragNeeded is the dst-unreach code carrying a next-hop MTU.
	ICMPv4CodeFragNeeded = 4
)

// ICMPv6 types (RFC 4443, RFC 4861, RFC 2710, RFC 3810).
const (
	ICMPv6DstUnreach      = 1
	ICMPv6PacketTooBig    = 2
	ICMPv6TimeExceeded    = 3
	ICMPv6ParamProblem    = 4
	ICMPv6EchoRequest     = 128
	ICMPv6EchoReply       = 129
	ICMPv6MLDQuery        = 130
	ICMPv6MLDReport       = 131
	ICMPv6MLDDone         = 132
	ICMPv6RouterSolicit   = 133
	ICMPv6RouterAdvert    = 134
	ICMPv6NeighborSolicit = 135
	ICMPv6NeighborAdvert  = 136
	ICMPv6Redirect        = 137
	ICMPv6MLDv2Report     = 143
)
