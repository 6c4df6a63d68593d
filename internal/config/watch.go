package config

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Watcher reloads the configuration when one of its files changes. It
// polls size and modification time rather than subscribing to file system
// events: that needs no dependency, sees a Kubernetes ConfigMap's symlink
// swap like any other change (Stat follows links), and costs one stat per
// file per interval.
type Watcher struct {
	opts  LoadOptions
	paths []string
	seen  []fileStat

	// Interval between polls; zero means one second.
	Interval time.Duration
	// Changed receives each valid config loaded after a change, with the
	// warnings of that load.
	Changed func(c *Config, warnings []string)
	// Refused receives the error of a changed config that does not load.
	Refused func(err error)
}

// settle is how long a change must stay put before it is read, so that a
// file caught halfway through being written is not reported as invalid.
const settle = 100 * time.Millisecond

// Watch notes the state of the config files of opts, to be compared with
// from Run on. Call it before the first Load, so that a change made while
// the server starts is not missed. Every reload loads with opts again, so
// the environment still wins over the files.
func Watch(opts LoadOptions) *Watcher {
	w := &Watcher{opts: opts, paths: absolutePaths(opts)}
	w.seen = stats(w.paths)
	return w
}

// Run polls until ctx ends; Changed and Refused are called from its
// goroutine, one at a time.
func (w *Watcher) Run(ctx context.Context) {
	interval := w.Interval
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := stats(w.paths)
		if slices.Equal(now, w.seen) {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(settle):
		}
		if again := stats(w.paths); !slices.Equal(again, now) {
			continue // still being written: look again at the next poll
		}
		w.seen = now
		c, warnings, err := Load(w.opts)
		if err != nil {
			w.Refused(err)
			continue
		}
		w.Changed(c, warnings)
	}
}

// absolutePaths resolves the files as Load does.
func absolutePaths(opts LoadOptions) []string {
	dir := opts.WorkDir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	paths := make([]string, len(opts.Files))
	for i, f := range opts.Files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		paths[i] = f
	}
	return paths
}

// fileStat is what a poll compares; a missing file is its zero value.
type fileStat struct {
	size    int64
	modTime int64
}

func stats(paths []string) []fileStat {
	out := make([]fileStat, len(paths))
	for i, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			out[i] = fileStat{size: fi.Size(), modTime: fi.ModTime().UnixNano()}
		}
	}
	return out
}
