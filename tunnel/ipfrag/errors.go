package ipfrag

import "strconv"

// Error is a fragmentation failure. The values are constants, so returning
// one never allocates and callers compare with == (or errors.Is).
type Error uint8

// Errors of FragmentIPv4 and FragmentIPv6. An error returned by emit is
// passed through unchanged instead.
const (
	_ Error = iota

	ErrTruncated    // the frame is shorter than its headers or IP length claim
	ErrNotIPv4      // FragmentIPv4 on a frame that is not IPv4
	ErrNotIPv6      // FragmentIPv6 on a frame that is not IPv6
	ErrDF           // IPv4 with DF set: send ICMP fragmentation-needed instead
	ErrMTU          // mtu below 68 (IPv4) or 1280 (IPv6), or too small for the headers
	ErrScratch      // scratch shorter than the L2 header plus mtu
	ErrOptions      // malformed IPv4 options
	ErrExtHeaders   // IPv6 extension headers cut short, too many, or already a fragment header
	ErrOffsetExceed // fragment offset plus data would exceed 65535

	numErrors
)

var errorNames = [numErrors]string{
	ErrTruncated:    "truncated",
	ErrNotIPv4:      "not_ipv4",
	ErrNotIPv6:      "not_ipv6",
	ErrDF:           "df_set",
	ErrMTU:          "mtu_too_small",
	ErrScratch:      "scratch_too_small",
	ErrOptions:      "bad_ipv4_options",
	ErrExtHeaders:   "bad_ipv6_ext_headers",
	ErrOffsetExceed: "offset_exceeds_65535",
}

var errorText = [numErrors]string{
	ErrTruncated:    "ipfrag: frame shorter than its headers or IP length",
	ErrNotIPv4:      "ipfrag: not an IPv4 packet",
	ErrNotIPv6:      "ipfrag: not an IPv6 packet",
	ErrDF:           "ipfrag: IPv4 DF set, packet may not be fragmented",
	ErrMTU:          "ipfrag: mtu too small",
	ErrScratch:      "ipfrag: scratch buffer smaller than L2 header plus mtu",
	ErrOptions:      "ipfrag: malformed IPv4 options",
	ErrExtHeaders:   "ipfrag: IPv6 extension headers truncated, too many, or already fragmented",
	ErrOffsetExceed: "ipfrag: fragment offset plus data exceeds 65535",
}

// Error returns a short description.
func (e Error) Error() string {
	if e == 0 || e >= numErrors {
		return "ipfrag: unknown error"
	}
	return errorText[e]
}

// Name returns a stable snake_case label.
func (e Error) Name() string {
	if e == 0 || e >= numErrors {
		return "error_" + strconv.Itoa(int(e))
	}
	return errorNames[e]
}
