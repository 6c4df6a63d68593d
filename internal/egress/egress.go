// Package egress guards the HTTP calls Lanyard makes on the config's
// behalf (web hooks, remote Jsonnet bodies, HTTP courier channels, social
// sign-in providers) as Kratos's clients.http.disallow_private_ip_ranges
// does: with it on, a connection to a loopback, private, link-local,
// unspecified or shared (CGNAT) address is refused when it is dialled, after
// DNS resolution, so that neither a name resolving to such an address nor
// a redirect to one gets through. URLs matching
// clients.http.private_ip_exception_urls may reach them all the same.
package egress

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrPrivateAddress is the dial error for a refused address.
var ErrPrivateAddress = errors.New("egress: the address is in a private IP range, which clients.http.disallow_private_ip_ranges refuses")

// Guard decides which outgoing calls may reach private addresses. The nil
// Guard refuses nothing.
type Guard struct {
	exceptions []*pattern
	// guarded dials only public addresses; open dials any (exceptions).
	guarded, open http.RoundTripper
}

// New answers the guard for the clients.http settings: nil when disallow is
// off. An exception that is not a valid glob is an error.
func New(disallow bool, exceptionURLs []string) (*Guard, error) {
	if !disallow {
		return nil, nil
	}
	g := &Guard{}
	for _, u := range exceptionURLs {
		p, err := compile(u)
		if err != nil {
			return nil, err
		}
		g.exceptions = append(g.exceptions, p)
	}
	guarded := http.DefaultTransport.(*http.Transport).Clone()
	guarded.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: RefusePrivate}).DialContext
	g.guarded = guarded
	g.open = http.DefaultTransport.(*http.Transport).Clone()
	return g, nil
}

// Client answers an HTTP client with timeout whose calls the guard checks.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	c := &http.Client{Timeout: timeout}
	if g != nil {
		c.Transport = g
	}
	return c
}

// RoundTrip implements http.RoundTripper. The client calls it again for
// every redirect, so each hop is matched and dialled afresh.
func (g *Guard) RoundTrip(r *http.Request) (*http.Response, error) {
	return g.route(r, g.open, g.guarded)
}

// Route answers a transport that sends exception URLs through open and
// every other request through guarded (whose dialer uses RefusePrivate):
// for clients with transport settings of their own. The nil Guard answers
// open.
func (g *Guard) Route(open, guarded http.RoundTripper) http.RoundTripper {
	if g == nil {
		return open
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) { return g.route(r, open, guarded) })
}

func (g *Guard) route(r *http.Request, open, guarded http.RoundTripper) (*http.Response, error) {
	if g.Excepted(r.URL.String()) {
		return open.RoundTrip(r)
	}
	return guarded.RoundTrip(r)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Excepted reports whether rawURL matches one of the exception URLs. As in
// Kratos, the query and fragment are not part of what is matched.
func (g *Guard) Excepted(rawURL string) bool {
	if g == nil {
		return true
	}
	u := stripQuery(rawURL)
	for _, p := range g.exceptions {
		if p.match(u) {
			return true
		}
	}
	return false
}

// RefusePrivate is a net.Dialer Control that refuses private addresses:
// address is the resolved IP the connection is about to be made to. For
// clients that need transports of their own (see Route).
func RefusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return ErrPrivateAddress // not an IP: nothing to vouch for it
	}
	if Private(ap.Addr()) {
		return ErrPrivateAddress
	}
	return nil
}

var (
	sharedRange  = netip.MustParsePrefix("100.64.0.0/10") // CGNAT (RFC 6598)
	thisNetwork  = netip.MustParsePrefix("0.0.0.0/8")     // RFC 1122
	nat64Range   = netip.MustParsePrefix("64:ff9b::/96")  // RFC 6052, embeds an IPv4 address
	benchmarking = netip.MustParsePrefix("198.18.0.0/15") // RFC 2544
	ietfProtocol = netip.MustParsePrefix("192.0.0.0/24")  // RFC 6890
	broadcast    = netip.MustParseAddr("255.255.255.255")
)

// Private reports whether a is an address a guarded call may not reach:
// loopback, private (RFC 1918, RFC 4193), link-local, unspecified, shared
// (100.64/10), multicast, and IPv4 addresses of those kinds written as
// IPv6 (IPv4-mapped or NAT64).
func Private(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() && nat64Range.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	switch {
	case !a.IsValid(), a.IsLoopback(), a.IsPrivate(), a.IsUnspecified(),
		a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast(), a.IsMulticast():
		return true
	case a.Is4():
		return sharedRange.Contains(a) || thisNetwork.Contains(a) || benchmarking.Contains(a) ||
			ietfProtocol.Contains(a) || a == broadcast
	}
	return false
}
