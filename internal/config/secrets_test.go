package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func devConfig(t *testing.T, dir string) *Config {
	t.Helper()
	c, _ := mustLoad(t, LoadOptions{Dev: true, WorkDir: dir})
	return c
}

func TestEnsureDevSecretsPersists(t *testing.T) {
	dir := t.TempDir()
	c := devConfig(t, dir)
	if err := EnsureDevSecrets(c); err != nil {
		t.Fatal(err)
	}
	s := c.Secrets
	if len(s.Default) != 1 || len(s.Cookie) != 1 || len(s.Cipher) != 1 {
		t.Fatalf("secrets not filled: %d %d %d", len(s.Default), len(s.Cookie), len(s.Cipher))
	}
	if utf8.RuneCountInString(s.Cookie[0]) < 16 || utf8.RuneCountInString(s.Default[0]) < 16 || len(s.Cipher[0]) != 32 {
		t.Errorf("generated secrets have the wrong length")
	}
	if s.Cookie[0] == s.Default[0] {
		t.Error("cookie and default secrets are the same")
	}

	info, err := os.Stat(c.DataDir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data dir: %v %v", info.Mode(), err)
	}
	info, err = os.Stat(filepath.Join(c.DataDir, DevSecretsFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("secrets file: %v %v", info.Mode(), err)
	}

	// A restart gets the same secrets.
	c2 := devConfig(t, dir)
	if err := EnsureDevSecrets(c2); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c2.Secrets.Cookie, s.Cookie) || !slices.Equal(c2.Secrets.Default, s.Default) || !slices.Equal(c2.Secrets.Cipher, s.Cipher) {
		t.Error("secrets changed across restarts")
	}
	entries, _ := os.ReadDir(c.DataDir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only the secrets file", len(entries))
	}
}

func TestEnsureDevSecretsKeepsConfiguredSecrets(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", "secrets: {default: [configured-default-1]}\n")
	c, _ := mustLoad(t, LoadOptions{Dev: true, WorkDir: dir, Files: []string{f}})
	if err := EnsureDevSecrets(c); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Secrets.Default, []string{"configured-default-1"}) || !slices.Equal(c.Secrets.Cookie, []string{"configured-default-1"}) {
		t.Errorf("configured secrets replaced: %v", c.Secrets)
	}
	if len(c.Secrets.Cipher) != 1 {
		t.Error("cipher secret not generated")
	}
	b, err := os.ReadFile(filepath.Join(c.DataDir, DevSecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "configured-default-1") {
		t.Error("configured secret written to the dev secrets file")
	}
}

func TestEnsureDevSecretsOutsideDevMode(t *testing.T) {
	dir := t.TempDir()
	c := &Config{DataDir: filepath.Join(dir, "d")}
	if err := EnsureDevSecrets(c); err != nil {
		t.Fatal(err)
	}
	if len(c.Secrets.Cookie) != 0 {
		t.Error("secrets generated outside dev mode")
	}
	if _, err := os.Stat(c.DataDir); !os.IsNotExist(err) {
		t.Error("data dir created outside dev mode")
	}
}

func TestEnsureDevSecretsInvalidFile(t *testing.T) {
	dir := t.TempDir()
	c := devConfig(t, dir)
	for _, content := range []string{"not json", `{"cookie": ["tiny"]}`, `{"cipher": ["not-32-bytes"]}`} {
		writeFile(t, c.DataDir, DevSecretsFile, content)
		c.Secrets = Secrets{}
		err := EnsureDevSecrets(c)
		if err == nil || !strings.Contains(err.Error(), DevSecretsFile) {
			t.Errorf("%q: error %v", content, err)
		}
		if err != nil && strings.Contains(err.Error(), "tiny") {
			t.Errorf("error prints a secret: %v", err)
		}
	}
}

func TestEnsureDevSecretsConcurrentFirstStart(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	cs := make([]*Config, n)
	for i := range cs {
		cs[i] = devConfig(t, dir)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range cs {
		wg.Go(func() { errs[i] = EnsureDevSecrets(cs[i]) })
	}
	wg.Wait()
	for i := range cs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !slices.Equal(cs[i].Secrets.Cookie, cs[0].Secrets.Cookie) {
			t.Error("concurrent first starts disagree on the secrets")
		}
	}
}
