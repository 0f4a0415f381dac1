// Package secrets encrypts the secrets the service keeps in PostgreSQL (sellers' access keys)
// with envelope encryption, so that a copy of the database (a backup, a replica, a dump handed
// to support) does not hand out the keys that sign calls to sellers.
//
// Each secret is sealed with its own random 256-bit data key (AES-256-GCM); the data key is
// sealed with a key-encryption key (KEK) from configuration, never stored with the data. A
// row keeps the KEK's ID, so keys can be rotated: add a new KEK, make it current, run
// `orders rotate-keys` (every row re-sealed under the current KEK), then retire the old one.
// The additional data of both seals binds a secret to its row (for example the seller ID), so
// a sealed key copied onto another row does not open there.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// KeySize is the size of a key-encryption key and of every data key: AES-256.
const KeySize = 32

// keyIDPattern keeps KEK IDs short and safe to store and log.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// ErrUnknownKey is returned when a sealed secret names a KEK the keyring does not hold: the
// key was retired before every row was rotated off it, or the configuration is incomplete.
var ErrUnknownKey = errors.New("secret sealed under a key-encryption key that is not configured")

// ErrCorrupt is returned when a sealed secret does not open: wrong additional data (it was
// copied from another row), a wrong key under the right ID, or damaged bytes.
var ErrCorrupt = errors.New("sealed secret does not open")

// Sealed is a secret as stored: the ID of the KEK that seals its data key, the sealed data
// key and the sealed secret (each a 12-byte nonce followed by the GCM ciphertext and tag).
type Sealed struct {
	KeyID      string
	WrappedKey []byte
	Ciphertext []byte
}

// Keyring holds the configured KEKs and names the current one, which seals new secrets.
type Keyring struct {
	current string
	keys    map[string][]byte
}

// ParseKeyring parses KEY_ENCRYPTION_KEYS ("id:base64key,id:base64key") and the current key
// ID (empty: the only key, or an error when there are several). Errors never quote a key.
func ParseKeyring(keys, current string) (*Keyring, error) {
	k := &Keyring{keys: map[string][]byte{}}
	if strings.TrimSpace(keys) == "" {
		return nil, errors.New("no key-encryption key configured")
	}
	for _, pair := range strings.Split(keys, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, errors.New("want id:base64key pairs, ids of 1-32 characters of A-Z a-z 0-9 _ . -")
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != KeySize {
			return nil, fmt.Errorf("key %s: want %d bytes in standard base64", id, KeySize)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("key %s is given twice", id)
		}
		k.keys[id] = raw
	}
	switch {
	case current != "":
		if _, ok := k.keys[current]; !ok {
			return nil, fmt.Errorf("current key %s is not among the configured keys", current)
		}
		k.current = current
	case len(k.keys) == 1:
		for id := range k.keys {
			k.current = id
		}
	default:
		return nil, errors.New("several keys configured: name the current one")
	}
	return k, nil
}

// NewKey returns a fresh random KEK in the form KEY_ENCRYPTION_KEYS takes ("id:base64").
func NewKey(id string) (string, error) {
	if !keyIDPattern.MatchString(id) {
		return "", fmt.Errorf("key id %q: want 1-32 characters of A-Z a-z 0-9 _ . -", id)
	}
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("random key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(raw), nil
}

// Current is the ID of the KEK that seals new secrets.
func (k *Keyring) Current() string { return k.current }

// IDs lists the configured KEK IDs, sorted.
func (k *Keyring) IDs() []string {
	out := make([]string, 0, len(k.keys))
	for id := range k.keys {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Has reports whether the KEK id is configured.
func (k *Keyring) Has(id string) bool {
	_, ok := k.keys[id]
	return ok
}

// Seal encrypts plaintext under a new data key sealed by the current KEK. aad binds the
// secret to where it is stored; Open needs the same aad.
func (k *Keyring) Seal(plaintext []byte, aad string) (Sealed, error) {
	dek := make([]byte, KeySize)
	if _, err := rand.Read(dek); err != nil {
		return Sealed{}, fmt.Errorf("random data key: %w", err)
	}
	ct, err := seal(dek, plaintext, []byte("secret\x00"+aad))
	if err != nil {
		return Sealed{}, err
	}
	wrapped, err := seal(k.keys[k.current], dek, []byte("dek\x00"+k.current+"\x00"+aad))
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{KeyID: k.current, WrappedKey: wrapped, Ciphertext: ct}, nil
}

// Open decrypts a sealed secret stored with aad.
func (k *Keyring) Open(s Sealed, aad string) ([]byte, error) {
	kek, ok := k.keys[s.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w (key id %q)", ErrUnknownKey, s.KeyID)
	}
	dek, err := open(kek, s.WrappedKey, []byte("dek\x00"+s.KeyID+"\x00"+aad))
	if err != nil {
		return nil, err
	}
	return open(dek, s.Ciphertext, []byte("secret\x00"+aad))
}

func seal(key, plaintext, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plaintext)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("random nonce: %w", err)
	}
	return gcm.Seal(nonce, nonce, plaintext, aad), nil
}

func open(key, sealed, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize()+gcm.Overhead() {
		return nil, ErrCorrupt
	}
	pt, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cipher: %w", err)
	}
	return cipher.NewGCM(block)
}
