package packet

// ParseError is a validation failure. The values are constants so that
// returning one never allocates and callers can compare with ==; Name gives
// a stable identifier for drop-reason counters, and the numeric value can
// index an array of NumParseErrors counters.
type ParseError uint8

// Validation errors returned by Parse, ParseIP, ParseQuoted,
// ParseTCPOptions, ValidateGRE, ValidateGeneve and Geneve.NextOption.
const (
	_ ParseError = iota

	ErrEthernetTruncated // frame shorter than the Ethernet header
	ErrVLANTruncated     // VLAN tag cut short
	ErrTooManyVLANs      // more than two VLAN tags
	ErrIPTruncated       // ParseIP/ParseQuoted on an empty packet
	ErrIPVersion         // ParseIP/ParseQuoted: version nibble neither 4 nor 6

	ErrIPv4Truncated      // fewer than 20 bytes
	ErrIPv4Version        // version != 4
	ErrIPv4IHL            // IHL < 5
	ErrIPv4HeaderLen      // IHL*4 exceeds the frame
	ErrIPv4TotalLenShort  // TotalLength < IHL*4
	ErrIPv4LenExceeds     // TotalLength exceeds the frame
	ErrIPv4FragTooLarge   // fragment offset + payload > 65535
	ErrIPv6Truncated      // fewer than 40 bytes
	ErrIPv6Version        // version != 6
	ErrIPv6LenExceeds     // payload length exceeds the frame
	ErrIPv6Jumbogram      // RFC 2675 jumbogram
	ErrIPv6HopByHopOrder  // hop-by-hop header not directly after the IPv6 header
	ErrIPv6ExtTruncated   // extension header runs past the payload
	ErrIPv6TooManyExt     // more than MaxIPv6ExtHeaders extension headers
	ErrIPv6DupFragment    // two fragment headers
	ErrIPv6FragTooLarge   // reassembled payload would exceed 65535
	ErrTCPTruncated       // fewer than 20 bytes of TCP
	ErrTCPDataOffset      // data offset < 20
	ErrTCPDataOffsetLarge // data offset exceeds the IP payload
	ErrUDPTruncated       // fewer than 8 bytes of UDP
	ErrUDPLength          // UDP length < 8 or != IP payload length
	ErrICMPv4Truncated    // fewer than 8 bytes of ICMPv4
	ErrICMPv6Truncated    // fewer than 8 bytes of ICMPv6
	ErrQuotedL4Truncated  // ICMP error quotes fewer than 8 bytes of L4

	ErrGRETruncated     // fewer than 4 bytes
	ErrGREHeaderLen     // C/K/S fields exceed the packet
	ErrGREVersion       // version != 0
	ErrGREReserved      // reserved flag bits set
	ErrGeneveTruncated  // fewer than 8 bytes
	ErrGeneveVersion    // version != 0
	ErrGeneveOptionsLen // options length exceeds the packet
	ErrGeneveOptTrunc   // fewer than 4 bytes left for an option header
	ErrGeneveOptOverrun // option data runs past the options area
	ErrGeneveOptOffset  // NextOption offset out of range

	ErrTCPOptTruncated // option length byte missing
	ErrTCPOptLength    // option length < 2
	ErrTCPOptOverrun   // option runs past the end of the options

	numParseErrors
)

// NumParseErrors bounds the ParseError values: every ParseError e returned by
// this package satisfies 0 < int(e) < NumParseErrors.
const NumParseErrors = int(numParseErrors)

var parseErrorText = [numParseErrors]string{
	ErrEthernetTruncated: "ethernet: frame shorter than header",
	ErrVLANTruncated:     "vlan: tag truncated",
	ErrTooManyVLANs:      "vlan: more than two tags",
	ErrIPTruncated:       "ip: empty packet",
	ErrIPVersion:         "ip: unknown version",

	ErrIPv4Truncated:      "ipv4: header truncated",
	ErrIPv4Version:        "ipv4: version is not 4",
	ErrIPv4IHL:            "ipv4: header length below 20",
	ErrIPv4HeaderLen:      "ipv4: header length exceeds frame",
	ErrIPv4TotalLenShort:  "ipv4: total length below header length",
	ErrIPv4LenExceeds:     "ipv4: total length exceeds frame",
	ErrIPv4FragTooLarge:   "ipv4: fragment ends beyond 65535",
	ErrIPv6Truncated:      "ipv6: header truncated",
	ErrIPv6Version:        "ipv6: version is not 6",
	ErrIPv6LenExceeds:     "ipv6: payload length exceeds frame",
	ErrIPv6Jumbogram:      "ipv6: jumbogram unsupported",
	ErrIPv6HopByHopOrder:  "ipv6: hop-by-hop header not first",
	ErrIPv6ExtTruncated:   "ipv6: extension header truncated",
	ErrIPv6TooManyExt:     "ipv6: too many extension headers",
	ErrIPv6DupFragment:    "ipv6: duplicate fragment header",
	ErrIPv6FragTooLarge:   "ipv6: fragment ends beyond 65535",
	ErrTCPTruncated:       "tcp: header truncated",
	ErrTCPDataOffset:      "tcp: data offset below 20",
	ErrTCPDataOffsetLarge: "tcp: data offset exceeds packet",
	ErrUDPTruncated:       "udp: header truncated",
	ErrUDPLength:          "udp: length mismatch",
	ErrICMPv4Truncated:    "icmpv4: header truncated",
	ErrICMPv6Truncated:    "icmpv6: header truncated",
	ErrQuotedL4Truncated:  "icmp: quoted l4 header truncated",

	ErrGRETruncated:     "gre: header truncated",
	ErrGREHeaderLen:     "gre: optional fields exceed packet",
	ErrGREVersion:       "gre: version is not 0",
	ErrGREReserved:      "gre: reserved bits set",
	ErrGeneveTruncated:  "geneve: header truncated",
	ErrGeneveVersion:    "geneve: version is not 0",
	ErrGeneveOptionsLen: "geneve: options exceed packet",
	ErrGeneveOptTrunc:   "geneve: option header truncated",
	ErrGeneveOptOverrun: "geneve: option exceeds options length",
	ErrGeneveOptOffset:  "geneve: option offset out of range",

	ErrTCPOptTruncated: "tcp: option length missing",
	ErrTCPOptLength:    "tcp: option length below 2",
	ErrTCPOptOverrun:   "tcp: option exceeds options",
}

var parseErrorName = [numParseErrors]string{
	ErrEthernetTruncated: "eth_truncated",
	ErrVLANTruncated:     "vlan_truncated",
	ErrTooManyVLANs:      "vlan_too_many",
	ErrIPTruncated:       "ip_truncated",
	ErrIPVersion:         "ip_bad_version",

	ErrIPv4Truncated:      "ipv4_truncated",
	ErrIPv4Version:        "ipv4_bad_version",
	ErrIPv4IHL:            "ipv4_bad_ihl",
	ErrIPv4HeaderLen:      "ipv4_hdr_exceeds_frame",
	ErrIPv4TotalLenShort:  "ipv4_len_below_hdr",
	ErrIPv4LenExceeds:     "ipv4_len_exceeds_frame",
	ErrIPv4FragTooLarge:   "ipv4_frag_too_large",
	ErrIPv6Truncated:      "ipv6_truncated",
	ErrIPv6Version:        "ipv6_bad_version",
	ErrIPv6LenExceeds:     "ipv6_len_exceeds_frame",
	ErrIPv6Jumbogram:      "ipv6_jumbogram",
	ErrIPv6HopByHopOrder:  "ipv6_hbh_not_first",
	ErrIPv6ExtTruncated:   "ipv6_ext_truncated",
	ErrIPv6TooManyExt:     "ipv6_too_many_ext",
	ErrIPv6DupFragment:    "ipv6_dup_frag_hdr",
	ErrIPv6FragTooLarge:   "ipv6_frag_too_large",
	ErrTCPTruncated:       "tcp_truncated",
	ErrTCPDataOffset:      "tcp_bad_data_offset",
	ErrTCPDataOffsetLarge: "tcp_data_offset_exceeds",
	ErrUDPTruncated:       "udp_truncated",
	ErrUDPLength:          "udp_bad_length",
	ErrICMPv4Truncated:    "icmpv4_truncated",
	ErrICMPv6Truncated:    "icmpv6_truncated",
	ErrQuotedL4Truncated:  "icmp_quoted_l4_truncated",

	ErrGRETruncated:     "gre_truncated",
	ErrGREHeaderLen:     "gre_hdr_exceeds_packet",
	ErrGREVersion:       "gre_bad_version",
	ErrGREReserved:      "gre_reserved_bits",
	ErrGeneveTruncated:  "geneve_truncated",
	ErrGeneveVersion:    "geneve_bad_version",
	ErrGeneveOptionsLen: "geneve_opts_exceed_packet",
	ErrGeneveOptTrunc:   "geneve_opt_truncated",
	ErrGeneveOptOverrun: "geneve_opt_overrun",
	ErrGeneveOptOffset:  "geneve_opt_bad_offset",

	ErrTCPOptTruncated: "tcp_opt_truncated",
	ErrTCPOptLength:    "tcp_opt_bad_length",
	ErrTCPOptOverrun:   "tcp_opt_overrun",
}

// Error returns a short, stable, human-readable description.
func (e ParseError) Error() string {
	if e == 0 || e >= numParseErrors {
		return "packet: unknown error"
	}
	return parseErrorText[e]
}

// Name returns a stable snake_case identifier suitable as a counter label.
func (e ParseError) Name() string {
	if e == 0 || e >= numParseErrors {
		return "unknown"
	}
	return parseErrorName[e]
}
