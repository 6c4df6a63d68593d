package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress is a one-line status on a terminal, redrawn at most a few times
// a second. Anywhere else (a pipe, a file, a test's buffer) it prints
// nothing, so that logs and scripts see only the real output.
type progress struct {
	mu    sync.Mutex
	w     io.Writer // nil: not a terminal
	last  time.Time
	shown bool
}

func newProgress(w io.Writer) *progress {
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		return &progress{w: f}
	}
	return &progress{}
}

// isTerminal tells a terminal from a pipe or file without x/term: a
// character device is what a tty is.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) status(line string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		p.shown = true
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	}
}

// done clears the line, so that what follows starts clean.
func (p *progress) done() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// print writes text to w (stdout or the same terminal) without mixing it
// into the status line: the line is cleared first and redrawn on the next
// status.
func (p *progress) print(w io.Writer, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
		p.last = time.Time{}
	}
	fmt.Fprint(w, text)
}
