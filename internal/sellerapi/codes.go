package sellerapi

import (
	"strconv"
	"strings"
)

// Result codes a seller answers with (seller-protocol.md, "Result codes").
const (
	CodeSuccess          = "000000"
	CodeAuthFailed       = "000001"
	CodeInvalidParameter = "000002"
	CodeInstanceNotFound = "000003"
	CodePending          = "000004"
	CodeInternalError    = "000005"
)

// Class is what a call's outcome means to the marketplace: go on, poll, retry, or give
// up. Workflows branch on the Class rather than on raw codes so that the code table lives
// in one place.
type Class int

// The classes of outcome. The zero value is ClassSuccess.
const (
	ClassSuccess          Class = iota // 000000
	ClassPending                       // 000004: being provisioned, poll queryInstance
	ClassAuthFailed                    // 000001: retryable, a key may be fixed meanwhile
	ClassInternalError                 // 000005: retryable
	ClassUnknownResult                 // any other code: treated like 000005
	ClassInvalidParameter              // 000002: not retryable
	ClassInstanceNotFound              // 000003: not retryable (release treats it as done)
	ClassRefused                       // 000100-000107: order fails, buyer refunded
	ClassLicenseRefused                // 000900-000903: order fails, buyer refunded
	ClassTransport                     // no usable answer: timeout, connection, non-200, bad body or Body-Sign
)

// Classify maps a result code to its Class. Anything that is not a known code, including
// "" and non-numeric text, is ClassUnknownResult, which is retried like an internal error:
// the protocol says unknown codes are treated like 000005 (and recorded verbatim by the
// caller). Whether 000003 on releaseInstance means "done" is the caller's decision.
func Classify(code string) Class {
	switch code {
	case CodeSuccess:
		return ClassSuccess
	case CodePending:
		return ClassPending
	case CodeAuthFailed:
		return ClassAuthFailed
	case CodeInternalError:
		return ClassInternalError
	case CodeInvalidParameter:
		return ClassInvalidParameter
	case CodeInstanceNotFound:
		return ClassInstanceNotFound
	}
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return ClassUnknownResult
	}
	n, _ := strconv.Atoi(code)
	switch {
	case n >= 100 && n <= 107:
		return ClassRefused
	case n >= 900 && n <= 903:
		return ClassLicenseRefused
	}
	return ClassUnknownResult
}

// ErrorType is the Temporal application-error type for an outcome of this Class. The
// strings are stable API: retry policies (NonRetryableErrorTypes), workflow code and
// dashboards match on them. ClassSuccess has no error type and gives "".
func (c Class) ErrorType() string {
	switch c {
	case ClassPending:
		return "SellerPending"
	case ClassAuthFailed:
		return "SellerAuthFailed"
	case ClassInternalError:
		return "SellerInternalError"
	case ClassUnknownResult:
		return "SellerUnknownResult"
	case ClassInvalidParameter:
		return "SellerInvalidParameter"
	case ClassInstanceNotFound:
		return "SellerInstanceNotFound"
	case ClassRefused:
		return "SellerRefused"
	case ClassLicenseRefused:
		return "SellerLicenseRefused"
	case ClassTransport:
		return "SellerTransportError"
	}
	return ""
}

// Retryable reports whether asking again later can change the outcome. It is true for
// authentication failures, internal errors, unknown codes and transport failures, and for
// Pending (asking again is exactly what polling does); false for success and for the
// seller's definite refusals, which must fail the call at once.
func (c Class) Retryable() bool {
	switch c {
	case ClassPending, ClassAuthFailed, ClassInternalError, ClassUnknownResult, ClassTransport:
		return true
	}
	return false
}

// String names the class for logs; it is the ErrorType, or "Success".
func (c Class) String() string {
	if c == ClassSuccess {
		return "Success"
	}
	if t := c.ErrorType(); t != "" {
		return t
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// ResultLabel is the result_code label of a call's metrics: the code itself when the
// protocol defines it, "transport" for no usable answer (code ""), and "other" for anything
// else. A seller chooses its codes, and a label must come from a bounded set, or one seller
// could create a time series per request.
func ResultLabel(code string) string {
	if code == "" {
		return "transport"
	}
	switch Classify(code) {
	case ClassUnknownResult:
		return "other"
	}
	return code
}
