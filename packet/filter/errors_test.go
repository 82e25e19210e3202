package filter

import (
	"errors"
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		expr string
		col  int
		msg  string
	}{
		{"ip && port ssh", 12, `expected a port number after "port", got "ssh"`},
		{"tcp udp", 5, `expected "and" or "or" before "udp" (juxtaposition is not an implicit "and")`},
		{"tcp-syn tcp-ack", 9, `expected "and" or "or" before "tcp-ack" (juxtaposition is not an implicit "and")`},
		{"(tcp udp)", 6, `expected "and", "or" or ")" before "udp" (juxtaposition is not an implicit "and")`},
		{"tcp < 5", 5, `expected "and" or "or", got "<"`},
		{"(tcp", 5, `missing ")" to close "(" at column 1`},
		{"tcp)", 4, `unexpected ")" with no "(" to close`},
		{"()", 2, `expected a primitive, got ")"`},
		{"tcp and", 8, `expected a primitive, got end of expression`},
		{"and tcp", 1, `expected a primitive, got "and"`},
		{"not", 4, `expected a primitive, got end of expression`},
		{"foo", 1, `unknown primitive "foo"`},
		{"ether", 6, `expected a MAC address after "ether", got end of expression`},
		{"10.0.0.1", 1, `expected a primitive, got "10.0.0.1" (did you mean "host 10.0.0.1"?)`},
		{"udp or 10.0.0.0/8", 8, `expected a primitive, got "10.0.0.0/8" (did you mean "net 10.0.0.0/8"?)`},
		{"host 10.0.0.256", 6, `expected an IPv4 or IPv6 address after "host", got "10.0.0.256"`},
		{"host example.com", 6, `expected an IPv4 or IPv6 address after "host", got "example.com" (host names are not resolved)`},
		{"host 10.0.0.0/8", 6, `expected an IPv4 or IPv6 address after "host", got "10.0.0.0/8" (use "net" for a prefix)`},
		{"host fe80::1%eth0", 13, `unexpected character "%" (IPv6 zones are not supported)`},
		{"net 10.0.0.1/8", 5, `prefix 10.0.0.1/8 has bits set past /8 (did you mean 10.0.0.0/8?)`},
		{"net 10.0.0.0", 5, `expected a prefix ADDR/BITS after "net", got "10.0.0.0"`},
		{"net 2001:db8::/129", 5, `expected a prefix ADDR/BITS after "net", got "2001:db8::/129"`},
		{"port 70000", 6, `port 70000 out of range (0-65535)`},
		{"port 0x", 6, `expected a port number after "port", got "0x"`},
		{"tcp port", 9, `expected a port number after "port", got end of expression`},
		{"sport -1", 7, `expected a port number after "sport", got "-1"`},
		{"portrange 100-50", 11, `port range 100-50 is empty (LO > HI)`},
		{"portrange 22", 11, `expected a port range LO-HI after "portrange", got "22"`},
		{"portrange 1-65536", 11, `port range 1-65536 out of range (0-65535)`},
		{"src tcp", 5, `expected "host", "net", "port" or "portrange" after "src", got "tcp"`},
		{"src sport 2", 5, `expected "host", "net", "port" or "portrange" after "src", got "sport"`},
		{"tcp src host 1.2.3.4", 9, `expected "port" or "portrange" after "src", got "host"`},
		{"len 60", 5, `expected a comparison (<, <=, ==, !=, >=, >) after "len", got "60"`},
		{"len <= -1", 8, `expected a length after "<=", got "-1"`},
		{"vlan 4096", 6, `VLAN ID 4096 out of range (0-4095)`},
		{"proto tcp", 7, `expected a protocol number after "proto", got "tcp"`},
		{"proto 256", 7, `protocol 256 out of range (0-255)`},
		{"icmp-type", 10, `expected an ICMP type after "icmp-type", got end of expression`},
		{"vni 16777216", 5, `VNI 16777216 out of range (0-16777215)`},
		{"gre-key 0x100000000", 9, `GRE key 0x100000000 out of range (0-4294967295)`},
		{"gre-key 99999999999999999999999", 9, `GRE key 99999999999999999999999 out of range (0-4294967295)`},
		{"ether host zz:00:00:00:00:00", 12, `expected a MAC address after "host", got "zz:00:00:00:00:00"`},
		{"ether src 02:00:5e:10:00", 11, `expected a MAC address after "src", got "02:00:5e:10:00"`},
		{"ether 02:00:5e-10:00:01", 7, `expected a MAC address after "ether", got "02:00:5e-10:00:01"`},
		{"inner inner inner inner tcp", 19, `"inner" nested more than 3 levels deep`},
		{"inner", 6, `expected a primitive, got end of expression`},
		{"tcp $ udp", 5, `unexpected character '$'`},
		{"tcp & udp", 5, `unexpected character "&" (did you mean "&&"?)`},
		{"tcp | udp", 5, `unexpected character "|" (did you mean "||"?)`},
		{"ip[9] = 6", 3, `unexpected character "[" (byte offsets are not supported; use "inner" to look inside tunnels)`},
		{"héllo", 2, `unexpected character 'é'`},
		{"tcp\xff", 4, `unexpected byte 0xff`},
		{strings.Repeat("(", 33) + "tcp" + strings.Repeat(")", 33), 33, `expression nested more than 32 levels deep`},
		{strings.Repeat("! ", 33) + "tcp", 65, `expression nested more than 32 levels deep`},
		{strings.Repeat("tcp or ", 128) + "udp", 897, `more than 128 primitives`},
		{strings.Repeat(" ", 1025), 1025, `expression is 1025 bytes long, over the limit of 1024`},
		// 637 bytes of input, 1399 in canonical form ("!ip&&" becomes "not ip and ").
		{strings.Repeat("!ip&&", 127) + "ip", 1, `expression is 1399 bytes long in canonical form, over the limit of 1024`},
	}
	for _, c := range cases {
		f, err := Compile(c.expr)
		if err == nil {
			t.Errorf("%.40q: compiled to %q, want an error", c.expr, f)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%.40q: error %T, want *Error", c.expr, err)
			continue
		}
		want := "filter: column " + itoa(c.col) + ": " + c.msg
		if e.Column != c.col || e.Msg != c.msg || err.Error() != want {
			t.Errorf("%.40q:\n got %s\nwant %s", c.expr, err, want)
		}
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// TestLimitsReached: exactly at each limit compiles.
func TestLimitsReached(t *testing.T) {
	for _, expr := range []string{
		strings.Repeat("(", 32) + "tcp" + strings.Repeat(")", 32),
		strings.Repeat("not ", 32) + "tcp",
		strings.Repeat("tcp or ", 127) + "udp",
		"inner inner inner tcp",
		strings.Repeat("inner ", 3) + strings.Repeat("(", 29) + "tcp" + strings.Repeat(")", 29),
		strings.Repeat(" ", 1020) + "tcp ",
	} {
		if _, err := Compile(expr); err != nil {
			t.Errorf("%.40q: %v", expr, err)
		}
	}
}
