package guard

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP is the address of the client that sent r: the peer address,
// unless the peer is a trusted proxy; then the right-most address of
// X-Forwarded-For that is not a trusted proxy itself. Addresses left of
// that one were written by the client and prove nothing. The answer is ""
// only when the peer address cannot be parsed.
func (g *Guard) ClientIP(r *http.Request) string {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		return ""
	}
	if g == nil || !g.isTrusted(peer) {
		return peer.String()
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := parseAddr(parts[j])
			if !ok {
				// Garbage from beyond the last trusted hop: the hop
				// that handed it over is the best we know.
				return client.String()
			}
			client = a
			if !g.isTrusted(a) {
				return a.String()
			}
		}
	}
	return client.String()
}

func (g *Guard) isTrusted(a netip.Addr) bool {
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr reads an address with or without a port ("192.0.2.1",
// "192.0.2.1:443", "[2001:db8::1]:443", "2001:db8::1"), unmapping
// IPv4-mapped IPv6 addresses and dropping zones.
func parseAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(s)
		if splitErr != nil {
			return netip.Addr{}, false
		}
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}, false
		}
	}
	return a.Unmap().WithZone(""), true
}

// clientKey is the unit a client is counted in: one IPv4 address, or one
// IPv6 /64, as a single subscriber usually holds a whole /64 and could
// otherwise walk through fresh addresses. "" for an unparsable address.
func clientKey(ip string) string {
	a, ok := parseAddr(ip)
	if !ok {
		return ""
	}
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
