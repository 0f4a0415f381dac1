package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// stopTimeout is how long a process gets between SIGTERM and SIGKILL.
const stopTimeout = 20 * time.Second

// process is one child the soak runs, restarts and kills: the Temporal server, the
// simulator, the API, a worker. Its output is appended to its own log file, so a run's
// logs survive restarts in one place per process.
type process struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string
	log     *slog.Logger

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current cmd has exited
	starts int
}

// start runs the process (again). It is an error to start a running process.
func (p *process) start() error {
	if cmd, _ := p.live(); cmd != nil {
		return fmt.Errorf("start %s: already running (pid %d)", p.name, cmd.Process.Pid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	fmt.Fprintf(out, "---- soak: start #%d at %s\n", p.starts+1, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that a Ctrl-C at the terminal reaches only the soak, which
	// stops its children in order; and SIGKILL if the soak itself dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	p.starts++
	done := p.done
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(out, "---- soak: %s exited at %s: %v\n", p.name, time.Now().Format(time.RFC3339Nano), err)
		out.Close()
		close(done)
	}()
	p.log.Debug("process started", "process", p.name, "pid", cmd.Process.Pid)
	return nil
}

// live is the running command and its exit channel, or nil when the process is down.
func (p *process) live() (*exec.Cmd, chan struct{}) {
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

// running reports whether the process is up.
func (p *process) running() bool {
	cmd, _ := p.live()
	return cmd != nil
}

// kill sends SIGKILL and waits for the exit: a crash, as the soak's faults want it.
func (p *process) kill() error {
	cmd, done := p.live()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-done
	return nil
}

// stop asks the process to stop (SIGTERM) and kills it after stopTimeout.
func (p *process) stop() error {
	cmd, done := p.live()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(stopTimeout):
		p.log.Warn("process did not stop in time; killing it", "process", p.name, "timeout", stopTimeout)
		return p.kill()
	}
}

// waitUntil polls ready every 100 ms until it answers nil, the process exits, or ctx ends.
func (p *process) waitUntil(ctx context.Context, within time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("%s exited while starting (see %s): %v", p.name, p.logPath, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v (see %s): %v", p.name, within, p.logPath, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
