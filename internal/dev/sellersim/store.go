package sellersim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// This file keeps the simulator's state in PostgreSQL when Options.DatabaseURL is set, so
// that a simulator killed and started again on the same database still knows the
// instances the marketplace's orders point at, keeps newInstance idempotent for old order
// lines and refuses nonces replayed within the signature window. It writes through: every
// request that changed a seller's state is answered only once that change is committed;
// when the commit fails the request is answered 000005 (retryable), and the change stays
// pending and is written before anything else of that seller is acknowledged.
//
// Kept: sellers (access key, signResponses, behaviour), instances (all their exported
// fields, serialised as JSONB, so fields added to instance later are kept without a schema
// change; the unexported ones storedInstance names) and the nonces still within the
// window. Not kept (in memory only, empty after a restart): stats, badSignatures, the call
// log, the orderNotify notifications and chaos's random sequence (reseeded from the
// behaviour's seed).

// storeSchema is the simulator's own schema: it is a separate party from the marketplace,
// so its tables never mix with the orders migrations, whether it is given a database of
// its own or the marketplace's.
const storeSchema = "sellersim"

// storeDDL creates the simulator's tables; run at every start, it changes nothing once they
// exist. The advisory lock serialises simulators starting at once on the same database
// (CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE).
var storeDDL = []string{
	`SELECT pg_advisory_xact_lock(hashtext('sellersim.schema'))`,
	`CREATE SCHEMA IF NOT EXISTS sellersim`,
	`CREATE TABLE IF NOT EXISTS sellersim.sellers (
		seller_id      text PRIMARY KEY,
		access_key     text NOT NULL,
		sign_responses boolean NOT NULL,
		behaviour      jsonb NOT NULL,
		updated_at     timestamptz NOT NULL DEFAULT now()
	)`,
	`CREATE TABLE IF NOT EXISTS sellersim.instances (
		seller_id     text NOT NULL,
		instance_id   text NOT NULL,
		order_id      text NOT NULL,
		order_line_id text NOT NULL,
		seq           bigint NOT NULL,
		data          jsonb NOT NULL,
		updated_at    timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (seller_id, instance_id)
	)`,
	`CREATE INDEX IF NOT EXISTS instances_by_order ON sellersim.instances (seller_id, order_id, order_line_id)`,
	`CREATE TABLE IF NOT EXISTS sellersim.nonces (
		seller_id text NOT NULL,
		nonce     text NOT NULL,
		forget_at timestamptz NOT NULL,
		PRIMARY KEY (seller_id, nonce)
	)`,
}

// storeTimeout bounds one write-through. It is taken under the simulator's lock, so a hung
// database must not hold every seller for long; the caller answers 000005 and retries.
const storeTimeout = 3 * time.Second

// nonceSweepEvery is how often a seller's expired nonces are deleted from the database.
const nonceSweepEvery = 30 * time.Second

// store is the PostgreSQL side of the simulator's state. All its methods are called with
// s.mu held, which orders the writes of one seller (and of all sellers) as they happened.
type store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
}

// openStore connects to url and creates the simulator's tables unless they exist.
func openStore(ctx context.Context, url string, log *slog.Logger) (*store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("sellersim: parse database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sellersim: connect to database: %w", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, q := range storeDDL {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%.60s: %w", strings.Join(strings.Fields(q), " "), err)
			}
		}
		return nil
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("sellersim: create schema %s: %w", storeSchema, err)
	}
	return &store{pool: pool, log: log}, nil
}

// sellerRecord is what the sellers table keeps of a seller.
type sellerRecord struct {
	AccessKey     string    `json:"accessKey"`
	SignResponses bool      `json:"signResponses"`
	Behaviour     behaviour `json:"behaviour"`
}

// storedInstance is an instance as the instances table keeps it: every exported field of
// instance (so a field added there is kept with no change here), plus the unexported state
// a restarted simulator needs. An unexported field added to instance must be added here.
type storedInstance struct {
	*instance
	ReadyAt  time.Time `json:"readyAt"`
	Password string    `json:"password"`
	Seq      int       `json:"seq"`
	// LicenseEvents are the getLicenseAsync requests seen, as [eventId, fingerprint]
	// pairs: the in-memory key joins them with a NUL, which JSONB cannot hold.
	LicenseEvents [][2]string `json:"licenseEvents,omitempty"`
}

// encodeInstance is inst's JSONB form.
func encodeInstance(inst *instance) ([]byte, error) {
	si := storedInstance{instance: inst, ReadyAt: inst.readyAt.UTC(), Password: inst.password, Seq: inst.seq}
	for ev := range inst.licenseEvents {
		id, fp, _ := strings.Cut(ev, "\x00")
		si.LicenseEvents = append(si.LicenseEvents, [2]string{id, fp})
	}
	slices.SortFunc(si.LicenseEvents, func(a, b [2]string) int {
		return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1])
	})
	v := *inst
	v.Ready = false // computed when listed, not state
	v.saved = nil
	si.instance = &v
	return json.Marshal(si)
}

// decodeInstance is the inverse of encodeInstance.
func decodeInstance(data []byte) (*instance, error) {
	si := storedInstance{instance: &instance{}}
	if err := json.Unmarshal(data, &si); err != nil {
		return nil, err
	}
	inst := si.instance
	inst.readyAt, inst.password, inst.seq = si.ReadyAt, si.Password, si.Seq
	for _, ev := range si.LicenseEvents {
		if inst.licenseEvents == nil {
			inst.licenseEvents = map[string]bool{}
		}
		inst.licenseEvents[ev[0]+"\x00"+ev[1]] = true
	}
	return inst, nil
}

// persisted is a seller's bookkeeping of what the database already holds.
type persisted struct {
	// saved is the sellerRecord last committed (its JSON), nil if none.
	saved []byte
	// unsaved are instances whose last write failed, written with the next one.
	unsaved map[string]*instance
	// lastNonceSweep is when expired nonces were last deleted.
	lastNonceSweep time.Time
}

// save commits what changed of seller id: its record if it differs from the last one
// committed, the nonces accepted since the last commit, and each of touched and the
// instances left unsaved whose JSON differs from the last committed. One batch, one
// implicit transaction. On failure nothing is marked saved, so the next save writes it all
// again. The caller holds s.mu.
func (st *store) save(id string, sel *seller, now time.Time, touched ...*instance) error {
	batch := &pgx.Batch{}
	rec, err := json.Marshal(sellerRecord{AccessKey: sel.accessKey, SignResponses: sel.signResponses, Behaviour: sel.beh})
	if err != nil {
		return fmt.Errorf("sellersim: encode seller %s: %w", id, err)
	}
	sellerChanged := !bytes.Equal(rec, sel.db.saved)
	if sellerChanged {
		beh, _ := json.Marshal(sel.beh)
		batch.Queue(`INSERT INTO sellersim.sellers (seller_id, access_key, sign_responses, behaviour)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (seller_id) DO UPDATE SET access_key = EXCLUDED.access_key,
				sign_responses = EXCLUDED.sign_responses, behaviour = EXCLUDED.behaviour, updated_at = now()`,
			id, sel.accessKey, sel.signResponses, string(beh))
	}
	nonces := sel.nonces.pending
	for nonce, until := range nonces {
		batch.Queue(`INSERT INTO sellersim.nonces (seller_id, nonce, forget_at) VALUES ($1, $2, $3)
			ON CONFLICT (seller_id, nonce) DO UPDATE SET forget_at = GREATEST(sellersim.nonces.forget_at, EXCLUDED.forget_at)`,
			id, nonce, until)
	}
	sweep := now.Sub(sel.db.lastNonceSweep) >= nonceSweepEvery
	if sweep {
		batch.Queue(`DELETE FROM sellersim.nonces WHERE seller_id = $1 AND forget_at < $2`, id, now)
	}
	type write struct {
		inst *instance
		data []byte
	}
	var writes []write
	seen := map[*instance]bool{}
	candidates := append(slices.Collect(maps.Values(sel.db.unsaved)), touched...)
	for _, inst := range candidates {
		if inst == nil || seen[inst] {
			continue
		}
		seen[inst] = true
		data, err := encodeInstance(inst)
		if err != nil {
			return fmt.Errorf("sellersim: encode instance %s: %w", inst.InstanceID, err)
		}
		if bytes.Equal(data, inst.saved) {
			continue
		}
		writes = append(writes, write{inst, data})
		batch.Queue(`INSERT INTO sellersim.instances (seller_id, instance_id, order_id, order_line_id, seq, data)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (seller_id, instance_id) DO UPDATE SET data = EXCLUDED.data, updated_at = now()`,
			id, inst.InstanceID, inst.OrderID, inst.OrderLineID, inst.seq, string(data))
	}
	if batch.Len() == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := st.pool.SendBatch(ctx, batch).Close(); err != nil {
		if sel.db.unsaved == nil {
			sel.db.unsaved = map[string]*instance{}
		}
		for _, w := range writes {
			sel.db.unsaved[w.inst.InstanceID] = w.inst
		}
		return fmt.Errorf("sellersim: save seller %s (%d instances, %d nonces): %w", id, len(writes), len(nonces), err)
	}
	if sellerChanged {
		sel.db.saved = rec
	}
	sel.nonces.pending = nil
	if sweep {
		sel.db.lastNonceSweep = now
	}
	for _, w := range writes {
		w.inst.saved = w.data
	}
	clear(sel.db.unsaved)
	return nil
}

// reset deletes everything the simulator keeps, for POST /admin/reset.
func (st *store) reset(ctx context.Context) error {
	if _, err := st.pool.Exec(ctx, `TRUNCATE sellersim.sellers, sellersim.instances, sellersim.nonces`); err != nil {
		return fmt.Errorf("sellersim: reset the database: %w", err)
	}
	return nil
}

// load reads every seller, instance and live nonce into sellers, adding the sellers the
// database knows that sellers lacks. A seller already in sellers (from Options.Sellers)
// keeps the access key it was given there: the configuration is the truth at start. now is
// the simulator's clock, which decides which nonces still matter.
func (st *store) load(ctx context.Context, sellers map[string]*seller, asyncDelay time.Duration, now time.Time) error {
	rows, err := st.pool.Query(ctx, `SELECT seller_id, access_key, sign_responses, behaviour FROM sellersim.sellers`)
	if err != nil {
		return fmt.Errorf("sellersim: load sellers: %w", err)
	}
	type row struct {
		id, key string
		sign    bool
		beh     []byte
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.key, &x.sign, &x.beh)
	})
	if err != nil {
		return fmt.Errorf("sellersim: load sellers: %w", err)
	}
	for _, r := range list {
		sel := sellers[r.id]
		fromConfig := sel != nil
		if sel == nil {
			sel = newSeller(r.key, asyncDelay)
			sel.nonces.track = true
			sellers[r.id] = sel
		}
		var b behaviour
		if err := json.Unmarshal(r.beh, &b); err != nil {
			return fmt.Errorf("sellersim: load seller %s: behaviour: %w", r.id, err)
		}
		sel.signResponses = r.sign
		if b.Chaos.on() || b.Chaos.Seed != 0 {
			sel.rng = newChaosRand(b.Chaos.Seed) // the same chaos, its sequence begun again
		}
		sel.beh = b
		if !fromConfig || sel.accessKey == r.key {
			sel.db.saved, _ = json.Marshal(sellerRecord{AccessKey: sel.accessKey, SignResponses: sel.signResponses, Behaviour: sel.beh})
		}
	}

	rows, err = st.pool.Query(ctx, `SELECT seller_id, instance_id, data FROM sellersim.instances ORDER BY seller_id, seq`)
	if err != nil {
		return fmt.Errorf("sellersim: load instances: %w", err)
	}
	type instRow struct {
		seller, id string
		data       []byte
	}
	insts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (instRow, error) {
		var x instRow
		return x, r.Scan(&x.seller, &x.id, &x.data)
	})
	if err != nil {
		return fmt.Errorf("sellersim: load instances: %w", err)
	}
	skipped := 0
	for _, r := range insts {
		sel := sellers[r.seller]
		if sel == nil {
			skipped++
			continue
		}
		inst, err := decodeInstance(r.data)
		if err != nil {
			return fmt.Errorf("sellersim: load instance %s of %s: %w", r.id, r.seller, err)
		}
		inst.saved, _ = encodeInstance(inst)
		sel.instances[inst.InstanceID] = inst
		// In seq order, so with newInstanceNotIdempotent the latest of an order line wins,
		// as it did in memory.
		sel.byOrder[orderKey{inst.OrderID, inst.OrderLineID}] = inst
		sel.seq = max(sel.seq, inst.seq)
	}
	if skipped > 0 {
		st.log.Warn("seller simulator: instances of unknown sellers not loaded", "instances", skipped)
	}

	rows, err = st.pool.Query(ctx, `SELECT seller_id, nonce, forget_at FROM sellersim.nonces WHERE forget_at >= $1`, now)
	if err != nil {
		return fmt.Errorf("sellersim: load nonces: %w", err)
	}
	var id, nonce string
	var until time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &nonce, &until}, func() error {
		if sel := sellers[id]; sel != nil {
			sel.nonces.seen[nonce] = until
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sellersim: load nonces: %w", err)
	}
	return nil
}
