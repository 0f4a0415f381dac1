package api

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/activities/sellerapi"
)

// idPattern is the syntax of every marketplace ID (api.md): it keeps IDs safe in workflow
// IDs, URLs, log lines and search attributes without escaping.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

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

// pathID returns a validated path parameter; the problem names the parameter.
func pathID(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if p := checkID(name, v); p != nil {
		return "", p
	}
	return v, nil
}

// checkText validates a human-readable text: required unless min is 0, at most max
// characters, no control characters (they break logs and UIs; newlines are allowed where
// allowNewlines).
func checkText(field, v string, minLen, maxLen int, allowNewlines bool) *Problem {
	n := utf8.RuneCountInString(v)
	if n == 0 && minLen > 0 {
		return invalidField(field, "%s is required", field)
	}
	if n < minLen || n > maxLen {
		return invalidField(field, "%s must be %d-%d characters", field, minLen, maxLen)
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(allowNewlines && (r == '\n' || r == '\r' || r == '\t')) {
			return invalidField(field, "%s must not contain control characters", field)
		}
	}
	return nil
}

// checkEndpoint applies the rule the seller client enforces when it calls (activities/
// sellerapi): https, or plain http only for loopback hosts unless the deployment allows
// http everywhere (SELLER_ALLOW_HTTP=any). Refusing here means ops learn at once, not when
// the first order fails. User info is refused because the endpoint is shown back to
// callers and must not hold a credential.
func checkEndpoint(field, v string, allowAnyHTTP bool) *Problem {
	if v == "" {
		return invalidField(field, "%s is required", field)
	}
	if len(v) > 2048 {
		return invalidField(field, "%s must be at most 2048 characters", field)
	}
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return invalidField(field, "%s must be an absolute https URL", field)
	}
	if u.User != nil {
		return invalidField(field, "%s must not contain user info", field)
	}
	if u.Fragment != "" || strings.Contains(v, "#") {
		return invalidField(field, "%s must not contain a fragment", field)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowAnyHTTP && !sellerapi.IsLoopbackHost(u.Hostname()) {
			return invalidField(field, "%s must use https (plain http is allowed only for loopback hosts)", field)
		}
	default:
		return invalidField(field, "%s must be an https URL", field)
	}
	return nil
}

// checkAccessKey validates a seller access key: 8-256 visible ASCII characters. It is an
// HMAC key, so anything else is a paste error; the message never echoes the value.
func checkAccessKey(field, v string) *Problem {
	if len(v) < 8 || len(v) > 256 {
		return invalidField(field, "%s must be 8-256 characters", field)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return invalidField(field, "%s must be visible ASCII characters only", field)
		}
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
