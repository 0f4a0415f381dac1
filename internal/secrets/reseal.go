package secrets

import "context"

// ResealEach re-seals the rows named by ids one at a time with one (each in its own short
// transaction, so a rotation runs while the service serves), stopping at the first error.
// one reports whether it sealed anything (a row gone or already current is skipped). It
// returns how many rows were sealed. The callers (seller keys, licences) differ only in
// how one row is read and written.
func ResealEach(ctx context.Context, ids []string, one func(ctx context.Context, id string) (bool, error)) (int, error) {
	n := 0
	for _, id := range ids {
		done, err := one(ctx, id)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}
