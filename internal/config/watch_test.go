package config

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// rewrite replaces a config file and moves its modification time on, so
// that the change shows even on file systems with coarse timestamps.
func rewrite(t *testing.T, path, content string, at time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherReloadsChangedFileAndRefusesInvalidOne(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "lanyard.yml", prodBase+"revision: one\n")
	changed := make(chan *Config, 4)
	refused := make(chan error, 4)
	w := Watch(LoadOptions{Files: []string{"lanyard.yml"}, WorkDir: dir, LookupEnv: env{}.lookup})
	w.Interval = 10 * time.Millisecond
	w.Changed = func(c *Config, _ []string) { changed <- c }
	w.Refused = func(err error) { refused <- err }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	wait := func() (*Config, error) {
		t.Helper()
		select {
		case c := <-changed:
			return c, nil
		case err := <-refused:
			return nil, err
		case <-time.After(10 * time.Second):
			t.Fatal("the watcher reported nothing after the file changed")
			return nil, nil
		}
	}
	base := time.Now().Add(time.Hour)

	rewrite(t, path, prodBase+"revision: two\n", base)
	c, err := wait()
	if err != nil || c.Revision != "two" {
		t.Fatalf("after a valid change: config %v, error %v; want revision two", c, err)
	}

	rewrite(t, path, prodBase+"revision: three\nserve: {public: {port: 0}}\n", base.Add(time.Minute))
	c, err = wait()
	if c != nil || err == nil || !strings.Contains(err.Error(), "serve.public.port") {
		t.Fatalf("after an invalid change: config %v, error %v; want a refusal naming serve.public.port", c, err)
	}

	rewrite(t, path, prodBase+"revision: four\n", base.Add(2*time.Minute))
	c, err = wait()
	if err != nil || c.Revision != "four" {
		t.Fatalf("after fixing the file: config %v, error %v; want revision four", c, err)
	}

	// Nothing changes: nothing is reported.
	select {
	case c := <-changed:
		t.Fatalf("reported a change with no file changed: revision %q", c.Revision)
	case err := <-refused:
		t.Fatalf("reported a refusal with no file changed: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestWatcherReportsDeletedFileAsRefused(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "lanyard.yml", prodBase)
	refused := make(chan error, 1)
	w := Watch(LoadOptions{Files: []string{path}, WorkDir: dir, LookupEnv: env{}.lookup})
	w.Interval = 10 * time.Millisecond
	w.Changed = func(c *Config, _ []string) { t.Errorf("a deleted file loaded: %v", c) }
	w.Refused = func(err error) { refused <- err }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-refused:
		if !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("refusal %v; want one saying the file does not exist", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no refusal after the config file was deleted")
	}
}
