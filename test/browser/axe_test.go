package browser

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// axeEnv names axe-core's axe.min.js; scripts/test fetches it with npm.
const axeEnv = "LANYARD_AXE_JS"

var axeSource struct {
	once sync.Once
	js   string
	err  error
}

// axeScript answers axe.min.js, skipping the test when LANYARD_AXE_JS is
// unset, unless the browser tests are required to run.
func axeScript(t *testing.T) string {
	t.Helper()
	path := os.Getenv(axeEnv)
	if path == "" {
		if os.Getenv(requireBrowserEnv) != "" {
			t.Fatalf("%s is set but %s is not: the accessibility checks need axe-core (scripts/test fetches it)", requireBrowserEnv, axeEnv)
		}
		t.Skipf("%s is unset: the accessibility checks need axe-core's axe.min.js (scripts/test fetches it with npm)", axeEnv)
	}
	axeSource.once.Do(func() {
		b, err := os.ReadFile(path)
		axeSource.js, axeSource.err = string(b), err
	})
	if axeSource.err != nil {
		t.Fatalf("reading %s: %v", axeEnv, axeSource.err)
	}
	return axeSource.js
}

// axeViolation is what a report needs of one of axe's violations.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// checkA11y runs axe-core on the page the tab shows, which is named page
// in the report, and fails the test on every serious or critical
// violation.
func checkA11y(t *testing.T, c *chrome, js, page string) {
	t.Helper()
	for _, v := range seriousViolations(t, c, js, page) {
		var targets []string
		for _, n := range v.Nodes {
			targets = append(targets, fmt.Sprintf("%v %s", n.Target, n.HTML))
		}
		t.Errorf("axe on the %s page: %s (%s): %s\n\t%s", page, v.ID, v.Impact, v.Help, strings.Join(targets, "\n\t"))
	}
}

// seriousViolations runs axe-core on the page and answers its serious and
// critical violations. The script goes in through DevTools evaluation,
// which the page's Content-Security-Policy does not govern.
func seriousViolations(t *testing.T, c *chrome, js, page string) []axeViolation {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err == nil && !loaded {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](js))
	}
	if err != nil {
		t.Fatalf("axe on the %s page: loading axe-core: %v", page, err)
	}
	found, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe on the %s page: %v\n%s", page, err, c.diagnose())
	}
	var serious []axeViolation
	for _, v := range found {
		if v.Impact == "serious" || v.Impact == "critical" {
			serious = append(serious, v)
		}
	}
	return serious
}

// TestAxe_FindsViolations keeps the checker honest: a page with an
// unlabelled field and an image without a text alternative fails it.
func TestAxe_FindsViolations(t *testing.T) {
	js := axeScript(t)
	c := newChrome(t)
	page := `<!doctype html><html lang="en"><title>bad</title><main><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text"></main></html>`
	c.step(t, "opening a page with violations", chromedp.Navigate("data:text/html,"+url.PathEscape(page)))
	got := map[string]bool{}
	for _, v := range seriousViolations(t, c, js, "bad") {
		got[v.ID] = len(v.Nodes) > 0
	}
	for _, rule := range []string{"image-alt", "label"} {
		if !got[rule] {
			t.Errorf("axe did not report %s on the bad page; it reported %v", rule, got)
		}
	}
}
