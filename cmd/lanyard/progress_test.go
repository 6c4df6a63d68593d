package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestProgress_SilentUnlessATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	p.status("50 imported")
	p.print(&buf, "an error line\n")
	p.done()
	if buf.String() != "an error line\n" {
		t.Errorf("a buffer got %q, want only the printed line", buf.String())
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file taken for a terminal")
	}
	p = newProgress(f)
	p.status("50 imported")
	p.done()
	if st, _ := f.Stat(); st.Size() != 0 {
		t.Errorf("a file got %d bytes of status", st.Size())
	}
}
