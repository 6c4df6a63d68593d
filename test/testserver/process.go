package testserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

const (
	// ReadyTimeout is how long a server may take to answer ready.
	ReadyTimeout = 60 * time.Second
	// StopTimeout is how long a process may take to exit after SIGTERM.
	StopTimeout = 20 * time.Second
	// runTimeout bounds a short-lived command.
	runTimeout = 2 * time.Minute
)

// Result is the outcome of a short-lived command.
type Result struct {
	Code   int
	Stdout string
	Stderr string
}

// Run runs bin with args in dir on CleanEnv(env) and waits for it; the
// error says only that it could not run, an exit code is in the Result.
func Run(bin, dir string, env map[string]string, args ...string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = CleanEnv(env)
	var stdout, stderr Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.Code = exitErr.ExitCode()
	default:
		return res, err
	}
	return res, nil
}

// Process is a running lanyard command; Output holds what it wrote to
// stdout and stderr, together.
type Process struct {
	Output *Buffer
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
}

// Start starts bin with args in dir on CleanEnv(env).
func Start(bin, dir string, env map[string]string, args ...string) (*Process, error) {
	p := &Process{Output: &Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = CleanEnv(env)
	p.cmd.Stdout, p.cmd.Stderr = p.Output, p.Output
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// ended is a process that is over, or never began, with err.
func ended(output *Buffer, err error) *Process {
	p := &Process{Output: output, done: make(chan struct{}), err: err}
	close(p.done)
	return p
}

// Spec is a `lanyard serve` to start; its database is migrated first.
type Spec struct {
	Binary   string
	Dir      string            // the working directory
	Config   string            // the config file
	DSN      string            // the database `migrate sql -e` migrates
	Env      map[string]string // on top of CleanEnv, for both commands
	AdminURL string            // where /health/ready is polled
	Args     []string          // more `serve` arguments
}

// Serve migrates the database, starts `lanyard serve -c spec.Config` and
// waits until it is ready. The process is never nil: after an error it has
// ended, and its Output says why.
func Serve(spec Spec) (*Process, error) {
	// migrate -e reads the DSN from the environment; serve reads it from
	// the config file unless spec.Env names it too.
	migrateEnv := map[string]string{"DSN": spec.DSN}
	for k, v := range spec.Env {
		migrateEnv[k] = v
	}
	res, err := Run(spec.Binary, spec.Dir, migrateEnv, "migrate", "sql", "-e", "--yes", "-c", spec.Config)
	if err == nil && res.Code != 0 {
		err = fmt.Errorf("migrate sql exited with %d", res.Code)
	}
	if err != nil {
		out := &Buffer{}
		out.WriteString(res.Stdout + res.Stderr)
		return ended(out, err), err
	}
	p, err := Start(spec.Binary, spec.Dir, spec.Env, append([]string{"serve", "-c", spec.Config}, spec.Args...)...)
	if err != nil {
		return ended(&Buffer{}, err), err
	}
	if err := p.WaitReady(spec.AdminURL); err != nil {
		p.Kill()
		return p, err
	}
	return p, nil
}

// WaitReady polls adminURL's /health/ready until it answers 200, the
// process ends, or ReadyTimeout passes.
func (p *Process) WaitReady(adminURL string) error {
	deadline := time.Now().Add(ReadyTimeout)
	probe := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("lanyard serve exited before it was ready: %v", err)
		}
		res, err := probe.Get(adminURL + "/health/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				// A server that failed to bind may still be exiting while
				// something else answered on its port.
				time.Sleep(20 * time.Millisecond)
				if exited, err := p.Exited(); exited {
					return fmt.Errorf("lanyard serve exited right after start: %v", err)
				}
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("lanyard serve was not ready within %s (GET %s/health/ready)", ReadyTimeout, adminURL)
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Kill ends the process at once and waits for it.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and waits StopTimeout for exit code 0; the error says
// what went otherwise (the process is gone either way).
func (p *Process) Stop() error {
	if p.cmd != nil {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.Kill()
			return fmt.Errorf("sending SIGTERM: %v", err)
		}
	}
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("did not shut down gracefully on SIGTERM: %v (want exit code 0)", p.err)
		}
		return nil
	case <-time.After(StopTimeout):
		p.Kill()
		return fmt.Errorf("did not exit within %s of SIGTERM", StopTimeout)
	}
}
