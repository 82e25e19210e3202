package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/dataplane/policy"
	"github.com/ctswitch/ctswitch/packet"
	"github.com/ctswitch/ctswitch/tunnel"
)

// Change is one setting a reload changes, with its old and new values as
// the file would write them ("" for a port, network or zone that is
// absent on one side).
type Change struct {
	Key      string // e.g. "workers", "networks[lab].policy", "conntrack.zones[7].limit"
	Old, New string
}

func (c Change) String() string { return fmt.Sprintf("%s: %s -> %s", c.Key, c.Old, c.New) }

// Changes is what a reload changes: Live can be applied to the running
// switch (SIGHUP), Restart needs the daemon restarted. Both are in the
// order of the file format, each key once.
type Changes struct {
	Live    []Change
	Restart []Change
}

// Empty reports whether the reload changes nothing.
func (c Changes) Empty() bool { return len(c.Live) == 0 && len(c.Restart) == 0 }

// Diff compares two configurations; a nil one counts as empty. Ports,
// networks and a network's tunnels are matched by name, zones by number.
// Every underlay, tunnel and tunnel section change needs a restart.
func Diff(old, new *Config) Changes {
	if old == nil {
		old = &Config{}
	}
	if new == nil {
		new = &Config{}
	}
	var d differ
	o, n := &old.Switch, &new.Switch
	d.restart("workers", itoa(o.Workers), itoa(n.Workers))
	d.restart("cpus", intList(o.CPUs), intList(n.CPUs))
	d.restart("mode", o.Mode.String(), n.Mode.String())
	d.restart("ring_size", itoa(o.RingSize), itoa(n.RingSize))
	d.restart("frame_size", itoa(o.FrameSize), itoa(n.FrameSize))
	d.restart("batch", itoa(o.Batch), itoa(n.Batch))
	d.restart("spin", strconv.FormatBool(o.Spin), strconv.FormatBool(n.Spin))
	d.restart("order_wait", formatDuration(o.OrderWait), formatDuration(n.OrderWait))
	d.restart("handoff_slots", itoa(o.HandoffSlots), itoa(n.HandoffSlots))
	d.restart("reorder_slots", itoa(o.ReorderSlots), itoa(n.ReorderSlots))

	// Ports: their set and order (which fixes their indexes), then each
	// port both sides have.
	d.restart("ports", portNames(o.Ports), portNames(n.Ports))
	oldPorts := make(map[string]int, len(o.Ports))
	for i, p := range o.Ports {
		oldPorts[p.Name] = i
	}
	for _, np := range n.Ports {
		i, ok := oldPorts[np.Name]
		if !ok {
			continue
		}
		op, key := o.Ports[i], "ports["+np.Name+"]"
		d.restart(key+".interface", op.Interface, np.Interface)
		d.restart(key+".network", op.Network, np.Network)
		d.restart(key+".mode", portMode(op.Mode), portMode(np.Mode))
		d.restart(key+".queues", queues(old, op.Name), queues(new, np.Name))
	}
	d.restart("underlay", underlayString(o.Underlays), underlayString(n.Underlays))

	d.restart("networks", netNames(o.Networks), netNames(n.Networks))
	oldTuns, newTuns := tunnelsByNetwork(o.Tunnels), tunnelsByNetwork(n.Tunnels)
	oldNets := make(map[string]int, len(o.Networks))
	for i, x := range o.Networks {
		oldNets[x.Name] = i
	}
	for _, nn := range n.Networks {
		i, ok := oldNets[nn.Name]
		if !ok {
			continue
		}
		on, key := o.Networks[i], "networks["+nn.Name+"]"
		d.restart(key+".id", itoa(int(on.ID)), itoa(int(nn.ID)))
		d.restart(key+".zone", itoa(int(on.Zone)), itoa(int(nn.Zone)))
		d.live(key+".mac_limit", itoa(on.MACLimit), itoa(nn.MACLimit))
		d.restart(key+".static_macs", staticMACs(on.Static), staticMACs(nn.Static))
		d.live(key+".policy", policyString(on.Policy), policyString(nn.Policy))
		d.restart(key+".icmp_source", addrList(on.ICMPSource), addrList(nn.ICMPSource))
		// Tunnels: their set and order, then each tunnel both sides have.
		ot, nt := oldTuns[on.Name], newTuns[nn.Name]
		d.restart(key+".tunnels", tunnelNames(ot), tunnelNames(nt))
		oldByName := make(map[string]int, len(ot))
		for i, t := range ot {
			oldByName[t.Endpoint.Name] = i
		}
		for _, t := range nt {
			if i, ok := oldByName[t.Endpoint.Name]; ok {
				d.restart(key+".tunnels["+t.Endpoint.Name+"]", tunnelString(ot[i]), tunnelString(t))
			}
		}
	}
	d.restart("tunnel.pmtu_expiry", formatDuration(o.PMTUExpiry), formatDuration(n.PMTUExpiry))
	ol, nl := &o.ICMPLimit, &n.ICMPLimit
	d.restart("tunnel.icmp_rate.per_source", itoa(ol.PerSource), itoa(nl.PerSource))
	d.restart("tunnel.icmp_rate.per_source_burst", itoa(ol.PerSourceBurst), itoa(nl.PerSourceBurst))
	d.restart("tunnel.icmp_rate.global", itoa(ol.Global), itoa(nl.Global))
	d.restart("tunnel.icmp_rate.global_burst", itoa(ol.GlobalBurst), itoa(nl.GlobalBurst))

	oc, nc := &o.Conntrack, &n.Conntrack
	d.restart("conntrack.max_conns", itoa(oc.MaxConns), itoa(nc.MaxConns))
	d.zone("conntrack.default", &oc.Default, &nc.Default)
	ids := make([]int, 0, len(oc.Zones)+len(nc.Zones))
	for id := range oc.Zones {
		ids = append(ids, int(id))
	}
	for id := range nc.Zones {
		ids = append(ids, int(id))
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		key := "conntrack.zones[" + itoa(id) + "]"
		oz, inOld := oc.Zones[uint16(id)]
		nz, inNew := nc.Zones[uint16(id)]
		switch {
		case inOld && inNew:
			d.zone(key, &oz, &nz)
		case inOld:
			d.live(key, zoneString(&oz, &oc.Default), "")
		default:
			d.live(key, "", zoneString(&nz, &nc.Default))
		}
	}
	od, nd := &oc.Defrag, &nc.Defrag
	d.restart("conntrack.defrag.enabled", strconv.FormatBool(!od.Disabled), strconv.FormatBool(!nd.Disabled))
	d.restart("conntrack.defrag.max_pending", itoa(od.MaxPending), itoa(nd.MaxPending))
	d.restart("conntrack.defrag.timeout", formatDuration(od.Timeout), formatDuration(nd.Timeout))
	d.restart("conntrack.defrag.min_frag_size_v4", itoa(od.MinFragSizeV4), itoa(nd.MinFragSizeV4))
	d.restart("conntrack.defrag.min_frag_size_v6", itoa(od.MinFragSizeV6), itoa(nd.MinFragSizeV6))

	d.restart("mac.capacity", itoa(o.MAC.Capacity), itoa(n.MAC.Capacity))
	d.restart("mac.max_age", formatDuration(o.MAC.MaxAge), formatDuration(n.MAC.MaxAge))
	d.restart("control.socket", old.Control.Socket, new.Control.Socket)
	d.restart("metrics.listen", offIfEmpty(old.Metrics.Listen), offIfEmpty(new.Metrics.Listen))
	d.restart("snapshot.path", offIfEmpty(old.Snapshot.Path), offIfEmpty(new.Snapshot.Path))
	d.restart("snapshot.restore", strconv.FormatBool(old.Snapshot.Restore), strconv.FormatBool(new.Snapshot.Restore))
	d.live("snapshot.interval", formatDuration(old.Snapshot.Interval), formatDuration(new.Snapshot.Interval))
	d.restart("log.format", old.Log.Format, new.Log.Format)
	d.live("log.level", strings.ToLower(old.Log.Level.String()), strings.ToLower(new.Log.Level.String()))
	d.live("log.rate_limit", itoa(old.Log.RateLimit), itoa(new.Log.RateLimit))
	return d.c
}

type differ struct{ c Changes }

func (d *differ) live(key, o, n string) {
	if o != n {
		d.c.Live = append(d.c.Live, Change{key, o, n})
	}
}

func (d *differ) restart(key, o, n string) {
	if o != n {
		d.c.Restart = append(d.c.Restart, Change{key, o, n})
	}
}

// zone compares a zone's knobs, all live.
func (d *differ) zone(key string, o, n *conntrack.ZoneConfig) {
	for _, k := range zoneKnobs(o) {
		d.live(key+"."+k.key, k.val, knob(n, k.key))
	}
}

type knobValue struct{ key, val string }

// zoneKnobs lists a zone's knobs as the file names them, in its order.
func zoneKnobs(z *conntrack.ZoneConfig) []knobValue {
	out := []knobValue{
		{"loose", strconv.FormatBool(z.Loose)},
		{"liberal", strconv.FormatBool(z.BeLiberal)},
		{"ignore_invalid_rst", strconv.FormatBool(z.IgnoreInvalidRST)},
		{"max_retrans", itoa(z.MaxRetrans)},
		{"checksum", strconv.FormatBool(z.Checksum)},
		{"limit", itoa(z.Limit)},
	}
	for _, name := range conntrack.TimeoutNames {
		t, _ := z.Timeouts.Get(name)
		out = append(out, knobValue{"timeouts." + name, formatDuration(t)})
	}
	return out
}

func knob(z *conntrack.ZoneConfig, key string) string {
	for _, k := range zoneKnobs(z) {
		if k.key == key {
			return k.val
		}
	}
	return ""
}

// zoneString renders a zone by how it differs from the default zone.
func zoneString(z, def *conntrack.ZoneConfig) string {
	var parts []string
	dk := zoneKnobs(def)
	for i, k := range zoneKnobs(z) {
		if k.val != dk[i].val {
			parts = append(parts, k.key+"="+k.val)
		}
	}
	if len(parts) == 0 {
		return "as default"
	}
	return strings.Join(parts, " ")
}

func itoa(i int) string { return strconv.Itoa(i) }

func intList(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = itoa(x)
	}
	return strings.Join(s, ",")
}

func portNames(ps []dataplane.PortSpec) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Name
	}
	return strings.Join(s, ",")
}

func netNames(ns []dataplane.NetworkSpec) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.Name
	}
	return strings.Join(s, ",")
}

func portMode(m *dataplane.Mode) string {
	if m == nil {
		return ""
	}
	return m.String()
}

func queues(c *Config, port string) string {
	if q, ok := c.queues[port]; ok {
		return itoa(q)
	}
	return ""
}

func offIfEmpty(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func staticMACs(m map[packet.MAC]string) string {
	s := make([]string, 0, len(m))
	for mac, port := range m {
		s = append(s, fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x=%s", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], port))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// policyString renders a policy the way the file writes it, rules in
// their canonical text.
func policyString(pc policy.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "default %s, invalid %s", pc.Default, pc.Invalid)
	if len(pc.Rules) > 0 {
		b.WriteString(", rules: ")
		for i, r := range pc.Rules {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(r.String())
		}
	}
	return b.String()
}

func underlayString(us []dataplane.UnderlaySpec) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = u.Name + "=" + u.Interface
		if u.Mode != nil {
			s[i] += " mode=" + u.Mode.String()
		}
	}
	return strings.Join(s, ", ")
}

func addrList(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	slices.Sort(s) // one IPv4 and one IPv6 address: the order says nothing
	return strings.Join(s, ",")
}

// tunnelsByNetwork groups tunnels by network, in file order.
func tunnelsByNetwork(ts []dataplane.TunnelSpec) map[string][]dataplane.TunnelSpec {
	out := map[string][]dataplane.TunnelSpec{}
	for _, t := range ts {
		out[t.Network] = append(out[t.Network], t)
	}
	return out
}

func tunnelNames(ts []dataplane.TunnelSpec) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.Endpoint.Name
	}
	return strings.Join(s, ",")
}

// tunnelString renders a tunnel with the file's keys.
func tunnelString(t dataplane.TunnelSpec) string {
	c := &t.Endpoint
	var b strings.Builder
	fmt.Fprintf(&b, "%s remote=%s", c.Kind, c.Remote)
	if c.Local.IsValid() {
		fmt.Fprintf(&b, " local=%s", c.Local)
	}
	fmt.Fprintf(&b, " underlay=%s", t.Underlay)
	if c.Key != nil {
		fmt.Fprintf(&b, " key=%d", *c.Key)
	}
	if c.Seq {
		b.WriteString(" seq=true")
	}
	if c.Kind == tunnel.Geneve {
		fmt.Fprintf(&b, " vni=%d", c.VNI)
		for _, o := range c.Options {
			fmt.Fprintf(&b, " option=0x%04x/0x%02x/%x", o.Class, o.Type, o.Data)
		}
		fmt.Fprintf(&b, " port=%d src_ports=%d-%d", c.DstPort, c.SrcPortMin, c.SrcPortMax)
	}
	fmt.Fprintf(&b, " checksum=%s ttl=%d df=%s", c.Checksum, c.TTL, c.DF)
	return b.String()
}
