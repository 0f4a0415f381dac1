package testkit

import "github.com/cloudmarket/orders/internal/secrets"

// Keyring is a keyring of one fresh key named id, for tests that seal seller keys, licences
// or webhook secrets. It panics on failure (a random key cannot fail to be made), so a
// package may build one for all its tests in a var.
func Keyring(id string) *secrets.Keyring {
	k, err := secrets.NewKey(id)
	if err != nil {
		panic("testkit: new key: " + err.Error())
	}
	kr, err := secrets.ParseKeyring(k, "")
	if err != nil {
		panic("testkit: keyring: " + err.Error())
	}
	return kr
}
