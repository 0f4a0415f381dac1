package licenses

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/secrets"
)

// Licence codes (License 2.0): the marketplace generates one per order of a licence-code
// product. The code is sealed in order_licenses like a seller's licence (so the buyer's view
// opens it the same way, key rotation reseals it, and the workflow knows only its reference);
// license_codes finds the order of a code the seller's software presents, by its SHA-256.

// codeAlphabet is Crockford's base32 without the letters people misread (no I, L, O, U):
// a code is typed by hand into the seller's software.
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// codeGroups and codeGroupLen shape a code: 5 groups of 5 characters, 125 random bits.
const (
	codeGroups   = 5
	codeGroupLen = 5
)

// ViaGenerated is LicenseRef.Via of a code the marketplace generated.
const ViaGenerated = "generated"

// ErrNoCode is returned for a code that is no order's (or not the asking seller's).
var ErrNoCode = errors.New("no such licence code")

// GenerateCode returns a new random licence code (XXXXX-XXXXX-XXXXX-XXXXX-XXXXX).
func GenerateCode() (string, error) {
	var raw [codeGroups * codeGroupLen]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate licence code: %w", err)
	}
	var b strings.Builder
	for i, x := range raw {
		if i > 0 && i%codeGroupLen == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(codeAlphabet[x&31])
	}
	return b.String(), nil
}

// NormalizeCode is a code as stored: upper case, without surrounding space (a buyer may
// type it in lower case into the seller's software).
func NormalizeCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// CodeSHA256 is the hex SHA-256 of a code, as its LicenseRef and license_codes keep it.
func CodeSHA256(code string) string {
	sum := sha256.Sum256([]byte(NormalizeCode(code)))
	return hex.EncodeToString(sum[:])
}

// IssueCode gives an order of a licence-code product its code: generated and sealed the
// first time, the same reference every time after (placing an order is retried). It
// returns only the reference: the code stays sealed.
func IssueCode(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, kr *secrets.Keyring, orderID, sellerID string, at time.Time) (order.LicenseRef, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return order.LicenseRef{}, fmt.Errorf("issue licence code of order %s: %w", orderID, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var kept order.LicenseRef
	err = tx.QueryRow(ctx, `SELECT sha256, masked, via, received_at FROM order_licenses WHERE order_id = $1`, orderID).
		Scan(&kept.SHA256, &kept.Masked, &kept.Via, &kept.ReceivedAt)
	switch {
	case err == nil:
		kept.ReceivedAt = kept.ReceivedAt.UTC()
		return kept, nil // issued by an earlier try
	case !errors.Is(err, pgx.ErrNoRows):
		return order.LicenseRef{}, fmt.Errorf("issue licence code of order %s: %w", orderID, err)
	}
	code, err := GenerateCode()
	if err != nil {
		return order.LicenseRef{}, err
	}
	ref, err := Store(ctx, tx, kr, orderID, code, ViaGenerated, at)
	if err != nil {
		return order.LicenseRef{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO license_codes (order_id, seller_id, sha256, issued_at) VALUES ($1, $2, $3, $4)`,
		orderID, sellerID, ref.SHA256, ref.ReceivedAt); err != nil {
		return order.LicenseRef{}, fmt.Errorf("issue licence code of order %s: %w", orderID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return order.LicenseRef{}, fmt.Errorf("issue licence code of order %s: %w", orderID, err)
	}
	return ref, nil
}

// Code is what the seller open API knows of a code a seller's software presents.
type Code struct {
	OrderID    string
	SHA256     string
	ReceivedAt *time.Time
}

// FindCode finds the order of a code presented by seller sellerID. A code of another
// seller's order answers ErrNoCode, like a code that does not exist, so codes cannot be
// probed across sellers.
func FindCode(ctx context.Context, db DB, sellerID, code string) (Code, error) {
	c := Code{SHA256: CodeSHA256(code)}
	var seller string
	err := db.QueryRow(ctx, `SELECT order_id, seller_id, received_at FROM license_codes WHERE sha256 = $1`, c.SHA256).
		Scan(&c.OrderID, &seller, &c.ReceivedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && seller != sellerID):
		return Code{}, ErrNoCode
	case err != nil:
		return Code{}, fmt.Errorf("find licence code: %w", err)
	}
	return c, nil
}

// MarkReceived records that the order's buyer was shown its code (the first time counts).
func MarkReceived(ctx context.Context, db DB, orderID string, at time.Time) error {
	if _, err := db.Exec(ctx, `UPDATE license_codes SET received_at = $2 WHERE order_id = $1 AND received_at IS NULL`,
		orderID, at.UTC()); err != nil {
		return fmt.Errorf("mark licence code of order %s received: %w", orderID, err)
	}
	return nil
}

// Heartbeat is a day's use of a code as recorded.
type Heartbeat struct {
	Day     string    `json:"day"` // YYYY-MM-DD, UTC
	FirstAt time.Time `json:"firstAt"`
	LastAt  time.Time `json:"lastAt"`
	Beats   int       `json:"beats"`
}

// RecordHeartbeat records a heartbeat of the order's code at at: the first of its UTC day
// makes the day's row, later ones only count. first says whether it was the day's first.
func RecordHeartbeat(ctx context.Context, db DB, orderID string, at time.Time) (h Heartbeat, first bool, err error) {
	at = at.UTC()
	var day time.Time
	err = db.QueryRow(ctx, `
		INSERT INTO license_code_heartbeats (order_id, day, first_at, last_at) VALUES ($1, $2::date, $3, $3)
		ON CONFLICT (order_id, day) DO UPDATE SET last_at = greatest(license_code_heartbeats.last_at, excluded.last_at),
		    beats = license_code_heartbeats.beats + 1
		RETURNING day, first_at, last_at, beats, (xmax = 0)`, orderID, at.Format(time.DateOnly), at,
	).Scan(&day, &h.FirstAt, &h.LastAt, &h.Beats, &first)
	if err != nil {
		return Heartbeat{}, false, fmt.Errorf("record heartbeat of order %s: %w", orderID, err)
	}
	h.Day, h.FirstAt, h.LastAt = day.Format(time.DateOnly), h.FirstAt.UTC(), h.LastAt.UTC()
	return h, first, nil
}

// Heartbeats lists the latest days a code was used, newest first (at most limit).
func Heartbeats(ctx context.Context, db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, orderID string, limit int) ([]Heartbeat, error) {
	rows, err := db.Query(ctx, `SELECT day, first_at, last_at, beats FROM license_code_heartbeats
		WHERE order_id = $1 ORDER BY day DESC LIMIT $2`, orderID, limit)
	if err != nil {
		return nil, fmt.Errorf("list heartbeats of order %s: %w", orderID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Heartbeat, error) {
		var h Heartbeat
		var day time.Time
		err := r.Scan(&day, &h.FirstAt, &h.LastAt, &h.Beats)
		h.Day, h.FirstAt, h.LastAt = day.Format(time.DateOnly), h.FirstAt.UTC(), h.LastAt.UTC()
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("list heartbeats of order %s: %w", orderID, err)
	}
	return out, nil
}
