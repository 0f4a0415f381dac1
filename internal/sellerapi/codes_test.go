package sellerapi

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		code      string
		class     Class
		errType   string
		retryable bool
	}{
		{"000000", ClassSuccess, "", false},
		{"000004", ClassPending, "SellerPending", true},
		{"000001", ClassAuthFailed, "SellerAuthFailed", true},
		{"000005", ClassInternalError, "SellerInternalError", true},
		{"000002", ClassInvalidParameter, "SellerInvalidParameter", false},
		{"000003", ClassInstanceNotFound, "SellerInstanceNotFound", false},
		{"000006", ClassUnknownResult, "SellerUnknownResult", true},
		{"000099", ClassUnknownResult, "SellerUnknownResult", true},
		{"000100", ClassRefused, "SellerRefused", false},
		{"000103", ClassRefused, "SellerRefused", false},
		{"000107", ClassRefused, "SellerRefused", false},
		{"000108", ClassUnknownResult, "SellerUnknownResult", true},
		{"000899", ClassUnknownResult, "SellerUnknownResult", true},
		{"000900", ClassLicenseRefused, "SellerLicenseRefused", false},
		{"000903", ClassLicenseRefused, "SellerLicenseRefused", false},
		{"000904", ClassUnknownResult, "SellerUnknownResult", true},
		{"100100", ClassUnknownResult, "SellerUnknownResult", true},
		{"00100", ClassUnknownResult, "SellerUnknownResult", true},
		{"0000100", ClassUnknownResult, "SellerUnknownResult", true},
		{"+00100", ClassUnknownResult, "SellerUnknownResult", true},
		{"-00100", ClassUnknownResult, "SellerUnknownResult", true},
		{" 00100", ClassUnknownResult, "SellerUnknownResult", true},
		{"", ClassUnknownResult, "SellerUnknownResult", true},
		{"abc", ClassUnknownResult, "SellerUnknownResult", true},
		{"success", ClassUnknownResult, "SellerUnknownResult", true},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			c := Classify(tt.code)
			if c != tt.class {
				t.Fatalf("Classify(%q) = %v, want %v", tt.code, c, tt.class)
			}
			if got := c.ErrorType(); got != tt.errType {
				t.Errorf("ErrorType = %q, want %q", got, tt.errType)
			}
			if got := c.Retryable(); got != tt.retryable {
				t.Errorf("Retryable = %v, want %v", got, tt.retryable)
			}
		})
	}
}

func TestClassTransport(t *testing.T) {
	if got := ClassTransport.ErrorType(); got != "SellerTransportError" {
		t.Errorf("ErrorType = %q", got)
	}
	if !ClassTransport.Retryable() {
		t.Error("transport failures must be retryable")
	}
}

func TestClassString(t *testing.T) {
	tests := []struct {
		c    Class
		want string
	}{
		{ClassSuccess, "Success"},
		{ClassRefused, "SellerRefused"},
		{Class(99), "Class(99)"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String(%d) = %q, want %q", int(tt.c), got, tt.want)
		}
	}
}

func TestResultLabelIsBounded(t *testing.T) {
	tests := map[string]string{
		"000000": "000000", "000004": "000004", "000001": "000001", "000105": "000105",
		"000903": "000903", "": "transport", "999999": "other", "000108": "other",
		"0000000": "other", "abc": "other", "000000 ": "other", "<script>": "other",
	}
	for code, want := range tests {
		if got := ResultLabel(code); got != want {
			t.Errorf("ResultLabel(%q) = %q, want %q", code, got, want)
		}
	}
}
