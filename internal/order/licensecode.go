package order

// Licence codes (License 2.0, issue 14 item 5): a per-product choice for licence products.
// The marketplace, not the seller, generates the code when the order is placed; it is
// sealed like any licence (order_licenses) and shown only to the buyer. The seller's
// software activates it through the seller open API: activation passes supervision, and the
// actual open time is the activation time. The seller is then told of renewals, freezes and
// the release through refreshLicenseCode, updateLicenseCodeStatus and releaseLicenseCode
// (never newInstance, refreshInstance or releaseInstance: there is no instance).

// UpdateActivateLicenseCode is the update the seller open API sends when the seller's
// software activates an order's licence code.
const UpdateActivateLicenseCode = "activate_license_code"

// Problem codes of licence codes. ErrLicenseCodeActivated is the machine's refusal of a
// second activation; the others are the API's (the code is not one of the caller's, or
// the buyer has not been shown it yet, or a heartbeat comes for a code never activated).
const (
	ErrLicenseCodeActivated    = "license_code_already_activated"
	ErrLicenseCodeNotReceived  = "license_code_not_received"
	ErrLicenseCodeNotActivated = "license_code_not_activated"
)

// LicenseCodeActivation is the argument of UpdateActivateLicenseCode: who activates (the
// order's seller) and the SHA-256 of the code presented, which must be the order's. The
// code itself never enters the workflow.
type LicenseCodeActivation struct {
	Actor  Actor  `json:"actor"`
	SHA256 string `json:"sha256"`
}
