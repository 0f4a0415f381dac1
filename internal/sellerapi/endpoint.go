package sellerapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// EndpointPolicy decides which seller endpoints the service may call. Seller endpoints are
// registered by ops but chosen by sellers, and the worker sends signed requests to them from
// inside our network: an endpoint that resolves to a loopback, private, link-local or cloud
// metadata address would turn the worker into a proxy into that network (SSRF). So outside
// development only https to public addresses is allowed. The rule is applied twice: when ops
// register an endpoint (the API resolves its host), and on every connection the client makes
// (the dialer checks the address it actually connects to), so a DNS answer that changes
// between the two (DNS rebinding) cannot redirect a call.
type EndpointPolicy struct {
	// Development allows plain http, and loopback and private addresses (the simulator on
	// this machine, a seller's test server on the office network).
	Development bool
	// AllowNetworks are networks allowed although they are not public (a private peering
	// range, say). Metadata addresses are refused unless listed here.
	AllowNetworks []netip.Prefix
}

// ErrEndpointNotAllowed is the cause of every refusal by an EndpointPolicy.
var ErrEndpointNotAllowed = errors.New("seller endpoint not allowed")

// metadataAddrs are cloud instance-metadata services: reaching them hands out the machine's
// credentials, so not even development allows them without an explicit network.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, Huawei Cloud, OpenStack
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
}

// nonPublic are ranges that are not reachable on the public internet (RFC 6890 and friends)
// beyond what netip's Is* methods name.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: an IPv4 address in disguise
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: an IPv4 address in disguise
}

// CheckAddr says whether the service may connect to ip.
func (p EndpointPolicy) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, n := range p.AllowNetworks {
		if n.Contains(ip) {
			return nil
		}
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return fmt.Errorf("%w: %s is a cloud metadata address", ErrEndpointNotAllowed, ip)
		}
	}
	what := ""
	switch {
	case !ip.IsValid() || ip.IsUnspecified():
		return fmt.Errorf("%w: unspecified address", ErrEndpointNotAllowed)
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is a multicast address", ErrEndpointNotAllowed, ip)
	case ip.IsLinkLocalUnicast():
		return fmt.Errorf("%w: %s is a link-local address", ErrEndpointNotAllowed, ip)
	case ip.IsLoopback():
		what = "loopback"
	case ip.IsPrivate():
		what = "private"
	}
	if what == "" {
		for _, n := range nonPublic {
			if n.Contains(ip) {
				what = "non-public"
				break
			}
		}
	}
	if what == "" || (p.Development && (what == "loopback" || what == "private" || what == "non-public")) {
		return nil
	}
	return fmt.Errorf("%w: %s is a %s address", ErrEndpointNotAllowed, ip, what)
}

// CheckURL checks an endpoint's syntax and scheme (https; http only in development), and,
// when the host is an IP literal, its address. It does no DNS lookup (see Resolve).
// User info and fragments are refused: the endpoint is shown back to ops and must not hold
// a credential, and a fragment is never sent.
func (p EndpointPolicy) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: not an absolute URL", ErrEndpointNotAllowed)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: user info in the URL", ErrEndpointNotAllowed)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fmt.Errorf("%w: a fragment in the URL", ErrEndpointNotAllowed)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.Development {
			return nil, fmt.Errorf("%w: plain http (use https)", ErrEndpointNotAllowed)
		}
	default:
		return nil, fmt.Errorf("%w: scheme %q (use https)", ErrEndpointNotAllowed, u.Scheme)
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := p.CheckAddr(ip); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// resolveTimeout bounds the DNS lookup of Resolve: ops wait for the answer.
const resolveTimeout = 3 * time.Second

// Resolve checks every address the endpoint's host resolves to now. Registration uses it so
// ops learn at once that an endpoint will be refused; the dialer checks again on every call.
func (p EndpointPolicy) Resolve(ctx context.Context, u *url.URL) error {
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // an IP literal: CheckURL checked it
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("%w: host %s does not resolve", ErrEndpointNotAllowed, host)
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			return err
		}
	}
	return nil
}

// control is a net.Dialer Control function: it runs after DNS, just before connecting, with
// the address actually dialled.
func (p EndpointPolicy) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEndpointNotAllowed, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: dialled %q is not an IP address", ErrEndpointNotAllowed, host)
	}
	return p.CheckAddr(ip)
}

// Transport is an http.Transport whose dialer applies the policy to the address of every
// connection it makes (after DNS), for other calls to addresses ops register on behalf of
// third parties (event subscribers), so they get the same SSRF protection as seller calls.
func (p EndpointPolicy) Transport() *http.Transport { return newTransport(p) }
