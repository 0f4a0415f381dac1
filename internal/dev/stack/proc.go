package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// StopTimeout is how long a process gets between SIGTERM and SIGKILL.
const StopTimeout = 20 * time.Second

// Process is one child of the stack (a Temporal service, the UI, the simulator, an API,
// a worker) that can be started, stopped, killed and started again on the same command,
// environment and output. Its output goes either to its own log file, appended across
// restarts (the soak), or line by line to the terminal with its name in front (make run,
// make cluster). Its methods are safe for concurrent use.
type Process struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string    // "" = terminal
	term    io.Writer // with logPath == ""
	log     *slog.Logger
	// ready answers nil once the process serves; Start waits for it.
	ready func(context.Context) error
	// readyWithin bounds that wait.
	readyWithin time.Duration
	// exited hears of every exit the stack did not ask for.
	exited chan<- *Process
	// deathSignal reaches the process when the launcher dies: SIGTERM for a terminal stack
	// (a graceful stop), SIGKILL in the soak.
	deathSignal syscall.Signal

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current cmd has exited
	expected bool          // the current cmd was told to stop (Stop, Kill)
	starts   int
}

// Name is the process's name in logs and in the report (history-1, api-2, worker-1).
func (p *Process) Name() string { return p.name }

// LogPath is the process's log file, or "" when it writes to the terminal.
func (p *Process) LogPath() string { return p.logPath }

// Starts counts how often the process was started.
func (p *Process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Pid is the running process's id, or 0.
func (p *Process) Pid() int {
	cmd, _ := p.live()
	if cmd == nil {
		return 0
	}
	return cmd.Process.Pid
}

// Start runs the process and waits until it is ready (or exits, or ctx ends).
func (p *Process) Start(ctx context.Context) error {
	if err := p.spawn(); err != nil {
		return err
	}
	if p.ready == nil {
		return nil
	}
	return p.WaitReady(ctx)
}

// spawn starts the process (again) without waiting. It is an error to start a running one.
func (p *Process) spawn() error {
	if cmd, _ := p.live(); cmd != nil {
		return fmt.Errorf("start %s: already running (pid %d)", p.name, cmd.Process.Pid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	// Its own process group, so that a Ctrl-C at the terminal reaches only the launcher,
	// which stops its children in order; and a signal if the launcher itself dies.
	sig := p.deathSignal
	if sig == 0 {
		sig = syscall.SIGKILL
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
	var closers []io.Closer
	var copying sync.WaitGroup
	var out *os.File
	if p.logPath != "" {
		f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("start %s: %w", p.name, err)
		}
		fmt.Fprintf(f, "---- stack: start #%d at %s\n", p.starts+1, time.Now().Format(time.RFC3339Nano))
		cmd.Stdout, cmd.Stderr = f, f
		out = f
	} else {
		// Through a pipe, so that each line can carry the process's name. The write end is
		// given to the child directly; the read end is scanned here until the child closes it.
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("pipe for %s: %w", p.name, err)
		}
		cmd.Stdout, cmd.Stderr = w, w
		closers = append(closers, w)
		copying.Add(1)
		go func() { defer copying.Done(); defer r.Close(); prefixLines(r, p.term, p.name) }()
	}
	if err := cmd.Start(); err != nil {
		for _, c := range closers {
			_ = c.Close()
		}
		if out != nil {
			out.Close()
		}
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	for _, c := range closers {
		_ = c.Close() // the child holds its own copy
	}
	p.cmd, p.done, p.expected = cmd, make(chan struct{}), false
	p.starts++
	done := p.done
	go func() {
		err := cmd.Wait()
		copying.Wait()
		if out != nil {
			fmt.Fprintf(out, "---- stack: %s exited at %s: %v\n", p.name, time.Now().Format(time.RFC3339Nano), err)
			out.Close()
		}
		p.mu.Lock()
		expected := p.expected
		p.mu.Unlock()
		close(done)
		if !expected && p.exited != nil {
			p.log.Warn("process exited on its own", "process", p.name, "err", exitReason(err))
			select {
			case p.exited <- p:
			default:
			}
		}
	}()
	p.log.Debug("process started", "process", p.name, "pid", cmd.Process.Pid)
	return nil
}

func exitReason(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

// live is the running command and its exit channel, or nil when the process is down.
func (p *Process) live() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil, nil
	}
	select {
	case <-p.done:
		return nil, nil
	default:
		return p.cmd, p.done
	}
}

// Running reports whether the process is up.
func (p *Process) Running() bool {
	cmd, _ := p.live()
	return cmd != nil
}

func (p *Process) expect() {
	p.mu.Lock()
	p.expected = true
	p.mu.Unlock()
}

// Kill sends SIGKILL to the process group and waits for the exit: a crash, as the soak's
// faults want it.
func (p *Process) Kill() error {
	cmd, done := p.live()
	if cmd == nil {
		return nil
	}
	p.expect()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-done
	return nil
}

// Stop asks the process to stop (SIGTERM to its group) and kills it after StopTimeout.
func (p *Process) Stop() error {
	cmd, done := p.live()
	if cmd == nil {
		return nil
	}
	p.expect()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(StopTimeout):
		p.log.Warn("process did not stop in time; killing it", "process", p.name, "timeout", StopTimeout)
		return p.Kill()
	}
}

// WaitReady polls the process's readiness every 100 ms until it answers nil, the process
// exits, or ctx or the process's readiness bound ends.
func (p *Process) WaitReady(ctx context.Context) error {
	within := p.readyWithin
	if within == 0 {
		within = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	where := p.logPath
	if where == "" {
		where = "its output above"
	}
	var last error
	for {
		if last = p.ready(ctx); last == nil {
			return nil
		}
		if !p.Running() {
			return fmt.Errorf("%s exited while starting (see %s): %v", p.name, where, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v (see %s): %v", p.name, within, where, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// outputMu keeps lines of different processes from interleaving mid-line.
var outputMu sync.Mutex

// prefixLines copies r to w line by line, each prefixed with "name | ".
func prefixLines(r io.Reader, w io.Writer, name string) {
	br := bufio.NewReaderSize(r, 64<<10)
	prefix := []byte(fmt.Sprintf("%-10s| ", name))
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] != '\n' {
				line = append(line, '\n')
			}
			outputMu.Lock()
			_, _ = w.Write(append(append([]byte{}, prefix...), line...))
			outputMu.Unlock()
		}
		if err != nil {
			return
		}
	}
}
