// Package pgcluster runs a PostgreSQL 15 cluster from the distribution's binaries, without
// Docker, for the dev stack (a persistent cluster under .data/) and for tests (a throwaway
// cluster in a temporary folder).
//
// Why an own harness: the embedded-postgres libraries download their binaries (impossible
// here) and cannot drop root privileges, while initdb and postgres refuse to run as root.
// This package uses the postgresql-15 package's binaries and, when the caller is root, runs
// them as the "postgres" system user through process credentials.
//
// The server listens on 127.0.0.1 only, trusts every local connection (there is no
// password) and keeps its unix socket inside the data folder, so it never clashes with a
// system cluster on /var/run/postgresql.
package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cloudmarket/orders/internal/dev/ports"
)

// DefaultBinDir is where Debian's postgresql-15 package installs initdb, pg_ctl and postgres.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// SuperUser is the role initdb creates; every URL this package returns connects as it.
const SuperUser = "postgres"

// Options says where and how to run a cluster. The zero value is a throwaway cluster for
// tests: fresh temporary data folder, free port, no durability.
type Options struct {
	// DataDir is the cluster's data folder. Empty = a fresh folder under os.TempDir(),
	// removed by Stop. A folder that holds a cluster (PG_VERSION) is reused; a missing or
	// empty one is initialised with initdb.
	DataDir string
	// Port is the TCP port on 127.0.0.1. 0 = a free port. A requested port that is taken
	// is replaced by a free one (logged), so a second stack or a system PostgreSQL never
	// blocks a start; callers must use Cluster.Port or Cluster.URL, not their own number.
	Port int
	// BinDir holds initdb/pg_ctl. Empty = PG_BIN_DIR, then DefaultBinDir, then
	// `pg_config --bindir`, then the files of the postgresql-15 package.
	BinDir string
	// Logger receives the harness's own messages (the server writes <DataDir>/server.log).
	Logger *slog.Logger
	// Durable keeps PostgreSQL's crash safety (fsync, synchronous commit, full page
	// writes). Tests leave it false: they throw the data away and gain a lot of speed.
	Durable bool
}

// Cluster is a running PostgreSQL cluster started by Start. Its methods are safe for
// concurrent use.
type Cluster struct {
	dataDir string
	binDir  string
	port    int
	log     *slog.Logger
	cred    *syscall.Credential // nil = run as the current user
	tempDir string              // removed by Stop when non-empty

	mu      sync.Mutex
	stopped bool
}

// Start initialises the data folder if needed, starts the server and waits until it
// accepts connections. On error nothing is left running.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "pgcluster")
	began := time.Now()

	binDir, err := findBinDir(ctx, opts.BinDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{binDir: binDir, log: log}

	if os.Geteuid() == 0 {
		cred, err := postgresCredential(ctx, log)
		if err != nil {
			return nil, err
		}
		c.cred = cred
	}

	if opts.DataDir == "" {
		dir, err := os.MkdirTemp(os.TempDir(), "pgcluster-")
		if err != nil {
			return nil, fmt.Errorf("pgcluster: create temporary folder: %w", err)
		}
		// MkdirTemp makes the folder 0700 for the caller: the postgres user needs to
		// traverse it to reach the data folder inside.
		if err := os.Chmod(dir, 0o755); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pgcluster: chmod temporary folder: %w", err)
		}
		c.tempDir = dir
		c.dataDir = filepath.Join(dir, "data")
	} else {
		abs, err := filepath.Abs(opts.DataDir)
		if err != nil {
			return nil, fmt.Errorf("pgcluster: data folder %q: %w", opts.DataDir, err)
		}
		c.dataDir = abs
	}
	fail := func(err error) (*Cluster, error) {
		if c.tempDir != "" {
			_ = os.RemoveAll(c.tempDir)
		}
		return nil, err
	}

	if err := c.prepareDataDir(); err != nil {
		return fail(err)
	}
	if err := c.initIfNeeded(ctx, opts.Durable); err != nil {
		return fail(err)
	}
	if err := c.handleLeftover(ctx); err != nil {
		return fail(err)
	}

	// A free port picked here may be taken by someone else before postgres binds it (tests
	// of several packages start clusters at the same time), so an automatic port is
	// retried a few times; a start failing for another reason fails at once below.
	for attempt := 1; ; attempt++ {
		port, picked := opts.Port, attempt > 1
		taken := port != 0 && !picked && !portFree(port)
		if port == 0 || picked || taken {
			if port, err = ports.Free(); err != nil {
				return fail(err)
			}
			picked = true
		}
		if taken {
			log.Warn("requested PostgreSQL port is taken, using a free one instead", "requested", opts.Port, "port", port)
		}
		err := c.start(ctx, port, opts.Durable)
		if err == nil {
			c.port = port
			break
		}
		if !picked || attempt >= 3 || !strings.Contains(err.Error(), "already in use") {
			return fail(err)
		}
		log.Warn("PostgreSQL could not bind its port, retrying on another one", "port", port)
	}
	log.Info("PostgreSQL started", "dataDir", c.dataDir, "port", c.port,
		"durable", opts.Durable, "elapsed", time.Since(began).Round(time.Millisecond))
	return c, nil
}

// Port is the TCP port the server listens on (127.0.0.1 only).
func (c *Cluster) Port() int { return c.port }

// DataDir is the absolute path of the data folder (server.log is inside).
func (c *Cluster) DataDir() string { return c.dataDir }

// URL is the connection URL of database db for the superuser. There is no password: the
// cluster trusts local connections.
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(SuperUser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates database name unless it exists; calling it again is a no-op, so
// callers need not remember whether this is the first start.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	return createDatabase(ctx, c.URL("postgres"), name)
}

// Stop shuts the server down with pg_ctl's fast mode (open sessions are rolled back) and
// removes a temporary data folder. Stopping twice is harmless. Because Stop is cleanup,
// a ctx that is already cancelled (e.g. by the signal that ends the program) is replaced
// by a fresh 30-second one rather than skipping the shutdown.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
	}
	began := time.Now()
	err := c.stopServer(ctx)
	if c.tempDir != "" {
		if rmErr := os.RemoveAll(c.tempDir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("pgcluster: remove temporary folder: %w", rmErr))
		}
	}
	if err != nil {
		return err
	}
	c.log.Info("PostgreSQL stopped", "dataDir", c.dataDir, "elapsed", time.Since(began).Round(time.Millisecond))
	return nil
}

func (c *Cluster) stopServer(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); errors.Is(err, fs.ErrNotExist) {
		return nil // not running (stopped by someone else, or crashed)
	}
	out, err := c.run(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", "60")
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); errors.Is(statErr, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("pgcluster: pg_ctl stop: %w: %s", err, strings.TrimSpace(out))
	}
	return nil
}

// prepareDataDir creates the data folder, gives it to the postgres user when we are root,
// and checks that this user can reach it.
func (c *Cluster) prepareDataDir() error {
	// Parents we create are 0755 so that the postgres user can traverse them (the usual
	// .data/ of the dev stack); the data folder itself must be private to its owner.
	if err := os.MkdirAll(filepath.Dir(c.dataDir), 0o755); err != nil {
		return fmt.Errorf("pgcluster: create parent of data folder: %w", err)
	}
	if err := os.Mkdir(c.dataDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgcluster: create data folder: %w", err)
	}
	// postgres refuses a data folder readable by others.
	if err := os.Chmod(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: chmod data folder: %w", err)
	}
	if c.cred == nil {
		return nil
	}
	if err := checkTraversable(filepath.Dir(c.dataDir), c.cred); err != nil {
		return err
	}
	// Only walk the tree when the folder is not the postgres user's yet (first start, or a
	// folder written by a non-root run): a large persistent cluster is not re-chowned on
	// every start.
	st, err := os.Stat(c.dataDir)
	if err != nil {
		return fmt.Errorf("pgcluster: data folder: %w", err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid == c.cred.Uid && sys.Gid == c.cred.Gid {
		return nil
	}
	err = filepath.WalkDir(c.dataDir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(c.cred.Uid), int(c.cred.Gid))
	})
	if err != nil {
		return fmt.Errorf("pgcluster: give data folder to the postgres user: %w", err)
	}
	return nil
}

// initIfNeeded runs initdb on a missing or empty data folder and refuses a non-empty
// folder that is not a cluster, rather than guessing.
func (c *Cluster) initIfNeeded(ctx context.Context, durable bool) error {
	version, err := os.ReadFile(filepath.Join(c.dataDir, "PG_VERSION"))
	if err == nil {
		if v := strings.TrimSpace(string(version)); v != "15" {
			return fmt.Errorf("pgcluster: %s holds a PostgreSQL %s cluster, these binaries are version 15 (%s): remove the folder or point PG_BIN_DIR at version %s", c.dataDir, v, c.binDir, v)
		}
		return nil
	}
	entries, err := os.ReadDir(c.dataDir)
	if err != nil {
		return fmt.Errorf("pgcluster: read data folder: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("pgcluster: %s is neither empty nor a PostgreSQL cluster (no PG_VERSION); refusing to touch it", c.dataDir)
	}
	args := []string{"-D", c.dataDir, "-A", "trust", "-U", SuperUser, "-E", "UTF8", "--locale=C"}
	if !durable {
		args = append(args, "--no-sync")
	}
	began := time.Now()
	if out, err := c.run(ctx, "initdb", args...); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w: %s", err, strings.TrimSpace(out))
	}
	c.log.Info("initialised PostgreSQL data folder", "dataDir", c.dataDir, "elapsed", time.Since(began).Round(time.Millisecond))
	return nil
}

// handleLeftover deals with a postmaster.pid left by an earlier run.
//
// A live postgres on this data folder is stopped (fast mode) rather than reused: it may
// have been started with other settings (port, durability), and the usual cause is a
// previous dev stack killed with SIGKILL, whose server nobody would stop otherwise. Taking
// it over means this Cluster owns the server's whole life. A pid file whose process is
// gone (or is now some other program) is stale and removed, so that postgres starts.
func (c *Cluster) handleLeftover(ctx context.Context) error {
	pidFile := filepath.Join(c.dataDir, "postmaster.pid")
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: read %s: %w", pidFile, err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	if pid > 0 && isPostgres(pid) {
		c.log.Warn("a PostgreSQL from an earlier run is still running on this data folder; stopping it to start with our settings", "pid", pid, "dataDir", c.dataDir)
		if err := c.stopServer(ctx); err != nil {
			return fmt.Errorf("pgcluster: stop leftover server (pid %d): %w", pid, err)
		}
		return nil
	}
	c.log.Warn("removing stale postmaster.pid left by an earlier run", "pid", pid, "dataDir", c.dataDir)
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pgcluster: remove stale %s: %w", pidFile, err)
	}
	return nil
}

// start runs pg_ctl start on port and waits until the server accepts connections.
func (c *Cluster) start(ctx context.Context, port int, durable bool) error {
	settings := []string{
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
	}
	// A unix socket path is limited to 107 bytes; a deep data folder cannot hold one, and we
	// connect over TCP anyway, so the socket is then switched off instead of failing.
	if len(c.dataDir)+len("/.s.PGSQL.65535.lock") <= 107 {
		settings = append(settings, "-c", "unix_socket_directories="+c.dataDir)
	} else {
		settings = append(settings, "-c", "unix_socket_directories=")
		c.log.Warn("data folder path too long for a unix socket; TCP only", "dataDir", c.dataDir)
	}
	if !durable {
		settings = append(settings, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	// pg_ctl hands -o to a shell, hence the quoting.
	quoted := make([]string, len(settings))
	for i, s := range settings {
		quoted[i] = shellQuote(s)
	}
	logFile := filepath.Join(c.dataDir, "server.log")
	out, err := c.run(ctx, "pg_ctl", "start", "-D", c.dataDir, "-w", "-t", "60",
		"-l", logFile, "-o", strings.Join(quoted, " "))
	if err != nil {
		return fmt.Errorf("pgcluster: pg_ctl start on port %d: %w: %s\nlast lines of %s:\n%s",
			port, err, strings.TrimSpace(out), logFile, tail(logFile, 15))
	}
	return nil
}

// run executes one of the cluster binaries as the postgres user (when root) with a clean
// environment: PG* variables of the caller (PGDATA, PGPORT, ...) must not redirect it.
func (c *Cluster) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	env := []string{"LC_ALL=C", "LANG=C"}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Dir = c.dataDir
	// Own process group: a Ctrl-C in the terminal must not reach pg_ctl or the server it
	// spawns; the owner of the cluster stops it in its own order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.cred != nil {
		cmd.SysProcAttr.Credential = c.cred
		env = append(env, "HOME=/var/lib/postgresql")
	} else if h, err := os.UserHomeDir(); err == nil {
		env = append(env, "HOME="+h)
	}
	cmd.Env = env
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	// pg_ctl start leaves the server running with our pipes closed; do not wait on them.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return buf.String(), err
}

// postgresCredential returns the credentials of the postgres system user, creating the
// user if the machine lacks it (a minimal image with the binaries copied in).
func postgresCredential(ctx context.Context, log *slog.Logger) (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return nil, fmt.Errorf("pgcluster: look up the postgres user: %w", err)
		}
		log.Info("creating the postgres system user (initdb refuses to run as root)")
		out, err := exec.CommandContext(ctx, "useradd", "--system", "--home-dir", "/var/lib/postgresql",
			"--shell", "/usr/sbin/nologin", "postgres").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("pgcluster: useradd postgres: %w: %s", err, strings.TrimSpace(string(out)))
		}
		if u, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("pgcluster: look up the postgres user after creating it: %w", err)
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgcluster: postgres user ids: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// checkTraversable walks from dir up to / and reports the first folder the user of cred
// cannot enter (execute bit), which would make postgres fail with a less helpful message.
func checkTraversable(dir string, cred *syscall.Credential) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		mode := st.Mode().Perm()
		var canEnter bool
		switch {
		case sys.Uid == cred.Uid:
			canEnter = mode&0o100 != 0
		case sys.Gid == cred.Gid:
			canEnter = mode&0o010 != 0
		default:
			canEnter = mode&0o001 != 0
		}
		if !canEnter {
			return fmt.Errorf("pgcluster: the postgres user (uid %d) cannot enter %s (mode %04o), so it cannot reach the data folder below it: "+
				"choose a data folder elsewhere (e.g. under /var/lib or /tmp) or run `chmod o+x %s`", cred.Uid, d, mode, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// findBinDir picks the folder that holds initdb and pg_ctl.
func findBinDir(ctx context.Context, explicit string) (string, error) {
	var candidates []string
	if explicit != "" {
		candidates = append(candidates, explicit)
	} else {
		if env := os.Getenv("PG_BIN_DIR"); env != "" {
			candidates = append(candidates, env)
		}
		candidates = append(candidates, DefaultBinDir)
		if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
			candidates = append(candidates, strings.TrimSpace(string(out)))
		}
		if out, err := exec.CommandContext(ctx, "dpkg", "-L", "postgresql-15").Output(); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				if line := strings.TrimSpace(sc.Text()); strings.HasSuffix(line, "/bin/initdb") {
					candidates = append(candidates, filepath.Dir(line))
				}
			}
		}
	}
	for _, dir := range candidates {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("pgcluster: no PostgreSQL binaries (initdb, pg_ctl) in %s: install postgresql-15 or set PG_BIN_DIR", strings.Join(candidates, ", "))
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode().Perm()&0o111 != 0
}

// isPostgres reports whether pid is a live postgres process. A pid that was reused by
// another program since the last run counts as gone.
func isPostgres(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) // no /proc to check: trust kill
	}
	name := strings.TrimSpace(string(comm))
	return name == "postgres" || name == "postmaster"
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// createDatabase creates name through the server at adminURL unless it exists.
func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("pgcluster: connect to create database %q: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: create database %q: %w", name, err)
	}
	return nil
}
