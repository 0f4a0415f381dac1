package api

import (
	"context"
	"regexp"
)

// idPattern is the syntax of every marketplace ID (api.md): it keeps IDs safe in workflow
// IDs, URLs, log lines and search attributes without escaping.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// checkID validates a required ID field.
func checkID(field, v string) *Problem {
	if v == "" {
		return invalidField(field, "%s is required", field)
	}
	if !idPattern.MatchString(v) {
		return invalidField(field, "%s must be 1-64 characters of A-Z, a-z, 0-9, _ and -", field)
	}
	return nil
}

// checkEndpoint applies the seller endpoint rule (sellerapi.EndpointPolicy) at registration:
// syntax and scheme, and every address the host resolves to now. The worker's dialer
// checks again on every call; refusing here means ops learn at once, not when the first
// order fails.
func (s *server) checkEndpoint(ctx context.Context, v string) *Problem {
	u, err := s.endpoint.CheckURL(v)
	if err == nil {
		err = s.endpoint.Resolve(ctx, u)
	}
	if err != nil {
		return invalidField("endpoint", "endpoint: %v", err)
	}
	return nil
}

// printableASCII reports whether v is 1-max characters of printable ASCII (space to ~).
func printableASCII(v string, maxLen int) bool {
	if len(v) == 0 || len(v) > maxLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}
