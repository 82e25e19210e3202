package lab

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// waitIPv6Ready waits until every interface with IPv6 addresses has joined
// their solicited-node multicast groups. The kernel joins them from a
// work queue shortly after the link comes up (with or without duplicate
// address detection); until then it drops the neighbour solicitations
// for the address, and the first ping or connection to it right after Up
// waits a second for the solicitation to be repeated.
func (l *Lab) waitIPv6Ready(ctx context.Context) error {
	deadline := time.Now().Add(5 * time.Second)
	for i := range l.topo.Links {
		lk := &l.topo.Links[i]
		for _, ep := range []*Endpoint{&lk.A, &lk.B} {
			if lk.DisableIPv6 || ep.DisableIPv6 {
				continue
			}
			want := map[string]string{} // group (as in igmp6) -> address
			for _, a := range ep.Addrs {
				if p := netip.MustParsePrefix(a); p.Addr().Is6() {
					want[solicitedNode(p.Addr())] = p.Addr().String()
				}
			}
			if len(want) == 0 {
				continue
			}
			name := l.ifName(lk, ep)
			err := l.inNs(ep.Host, func() error {
				for {
					missing, err := missingGroups(name, want)
					if err != nil {
						return err
					}
					if len(missing) == 0 {
						return nil
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("link %q: %s: IPv6 %s not ready after 5s (solicited-node multicast group not joined)",
							lk.Name, name, strings.Join(missing, ", "))
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(time.Millisecond):
					}
				}
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// solicitedNode returns the solicited-node group of a, ff02::1:ffXX:XXXX,
// in the hex form of /proc/net/igmp6.
func solicitedNode(a netip.Addr) string {
	b := a.As16()
	g := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]}
	return hex.EncodeToString(g[:])
}

// missingGroups returns the addresses in want (group -> address) whose
// groups ifname has not joined, reading the calling thread's namespace.
func missingGroups(ifname string, want map[string]string) ([]string, error) {
	// thread-self: /proc/self/net would show the main thread's namespace.
	b, err := os.ReadFile("/proc/thread-self/net/igmp6")
	if err != nil {
		return nil, fmt.Errorf("read igmp6: %w", err)
	}
	joined := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		// idx ifname group users flags timer
		if f := strings.Fields(line); len(f) >= 3 && f[1] == ifname {
			joined[f[2]] = true
		}
	}
	var missing []string
	for g, a := range want {
		if !joined[g] {
			missing = append(missing, a)
		}
	}
	return missing, nil
}
