package api

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// dbFailure classifies a PostgreSQL error that no handler expected. A refusal by a running
// server (*pgconn.PgError) means our SQL or our data is wrong: a bug, 500. Anything else
// (cannot connect, connection lost, timeout, pool closed), and the server-side classes
// that mean "not now" (08 connection exception, 53 insufficient resources, 57P0x
// shutdown), is PostgreSQL being unavailable: 503, so callers retry.
func dbFailure(what string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		c := pgErr.Code
		if strings.HasPrefix(c, "08") || strings.HasPrefix(c, "53") || strings.HasPrefix(c, "57P") {
			return unavailable("PostgreSQL", fmt.Errorf("%s: %w", what, err))
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return unavailable("PostgreSQL", fmt.Errorf("%s: %w", what, err))
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
