package courier

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/lanyard-id/lanyard/internal/bodytemplate"
	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/egress"
)

// templateTypes maps each template type to its directory in Kratos's
// layout, which built-in templates and template_override_path share.
var templateTypes = map[string]string{
	RecoveryCodeValid:       "recovery_code/valid",
	RecoveryCodeInvalid:     "recovery_code/invalid",
	RecoveryValid:           "recovery/valid",
	RecoveryInvalid:         "recovery/invalid",
	VerificationCodeValid:   "verification_code/valid",
	VerificationCodeInvalid: "verification_code/invalid",
	VerificationValid:       "verification/valid",
	VerificationInvalid:     "verification/invalid",
	LoginCodeValid:          "login_code/valid",
	RegistrationCodeValid:   "registration_code/valid",
}

//go:embed templates
var builtinTemplates embed.FS

// messageTemplates are the parsed templates of one template type.
type messageTemplates struct {
	subject *texttemplate.Template
	html    *htmltemplate.Template
	text    *texttemplate.Template
	sms     *texttemplate.Template
}

// part names one template file and the courier.templates key that
// overrides it.
type part struct {
	file string // e.g. "email.body.gotmpl"
	key  string // e.g. "email.body.html"
}

var (
	partSubject = part{"email.subject.gotmpl", "email.subject"}
	partHTML    = part{"email.body.gotmpl", "email.body.html"}
	partText    = part{"email.body.plaintext.gotmpl", "email.body.plaintext"}
	partSMS     = part{"sms.body.gotmpl", "sms.body.plaintext"}
)

// templateLoader resolves every template once, at start-up, so that a
// broken template is a configuration error and not a failed delivery.
type templateLoader struct {
	overrideDir string
	urls        map[string]string
	client      *http.Client
}

// loadTemplates fetches courier.templates URLs through outbound, so that
// clients.http's private-IP rule holds for them too (nil: unguarded).
func loadTemplates(ctx context.Context, cfg config.Courier, outbound *egress.Guard) (map[string]*messageTemplates, error) {
	if cfg.TemplateOverridePath != "" {
		if st, err := os.Stat(cfg.TemplateOverridePath); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("config key \"courier.template_override_path\": %s is not a readable directory", cfg.TemplateOverridePath)
		}
	}
	l := &templateLoader{overrideDir: cfg.TemplateOverridePath, urls: cfg.Templates, client: outbound.Client(10 * time.Second)}
	out := make(map[string]*messageTemplates, len(templateTypes))
	for typ, dir := range templateTypes {
		var mt messageTemplates
		var err error
		if mt.subject, err = loadText(ctx, l, dir, partSubject); err != nil {
			return nil, err
		}
		if mt.html, err = l.loadHTML(ctx, dir); err != nil {
			return nil, err
		}
		if mt.text, err = loadText(ctx, l, dir, partText); err != nil {
			return nil, err
		}
		if mt.sms, err = loadText(ctx, l, dir, partSMS); err != nil {
			return nil, err
		}
		out[typ] = &mt
	}
	return out, nil
}

// source finds the template text of a part: a courier.templates URL first,
// then template_override_path, then the built-in template. For the
// directory and built-ins, siblings matching the part's prefix come along
// so that one template can include another ({{ template "email.body.de.gotmpl" . }}).
type source struct {
	name  string // what errors call it
	fsys  fs.FS
	glob  string
	inner []byte // set for URL sources instead of fsys
}

func (l *templateLoader) source(ctx context.Context, dir string, p part) (source, error) {
	key := strings.ReplaceAll(dir, "/", ".") + "." + p.key
	if u := l.urls[key]; u != "" {
		b, err := l.fetch(ctx, u)
		if err != nil {
			return source{}, fmt.Errorf("config key \"courier.templates.%s\": %w", key, err)
		}
		return source{name: "courier.templates." + key, inner: b}, nil
	}
	prefix := strings.TrimSuffix(p.file, ".gotmpl")
	if l.overrideDir != "" {
		if _, err := os.Stat(filepath.Join(l.overrideDir, dir, p.file)); err == nil {
			return source{name: filepath.Join(l.overrideDir, dir, p.file), fsys: os.DirFS(l.overrideDir), glob: path.Join(dir, prefix+"*")}, nil
		}
	}
	sub, _ := fs.Sub(builtinTemplates, "templates")
	return source{name: "built-in " + path.Join(dir, p.file), fsys: sub, glob: path.Join(dir, p.file)}, nil
}

func loadText(ctx context.Context, l *templateLoader, dir string, p part) (*texttemplate.Template, error) {
	src, err := l.source(ctx, dir, p)
	if err != nil {
		return nil, err
	}
	t := texttemplate.New(p.file).Funcs(texttemplate.FuncMap(templateFuncs))
	if src.inner != nil {
		t, err = t.Parse(string(src.inner))
	} else {
		t, err = t.ParseFS(src.fsys, src.glob)
	}
	if err != nil {
		return nil, fmt.Errorf("courier template %s: %w", src.name, err)
	}
	return t, nil
}

func (l *templateLoader) loadHTML(ctx context.Context, dir string) (*htmltemplate.Template, error) {
	src, err := l.source(ctx, dir, partHTML)
	if err != nil {
		return nil, err
	}
	t := htmltemplate.New(partHTML.file).Funcs(htmltemplate.FuncMap(templateFuncs))
	if src.inner != nil {
		t, err = t.Parse(string(src.inner))
	} else {
		t, err = t.ParseFS(src.fsys, src.glob)
	}
	if err != nil {
		return nil, fmt.Errorf("courier template %s: %w", src.name, err)
	}
	return t, nil
}

// fetch reads a file://, base64:// or http(s):// URL, as the config
// loader resolved it (file paths are absolute).
func (l *templateLoader) fetch(ctx context.Context, u string) ([]byte, error) {
	return bodytemplate.Fetch(ctx, l.client, u)
}

// templateFuncs are a few helpers with the names and argument order of
// the sprig functions Kratos's template examples use.
var templateFuncs = map[string]any{
	"upper":     strings.ToUpper,
	"lower":     strings.ToLower,
	"title":     title,
	"trim":      strings.TrimSpace,
	"contains":  func(sub, s string) bool { return strings.Contains(s, sub) },
	"hasPrefix": func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
	"hasSuffix": func(suffix, s string) bool { return strings.HasSuffix(s, suffix) },
	"replace":   func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	"default": func(def any, v ...any) any {
		if len(v) == 0 || v[0] == nil || v[0] == "" {
			return def
		}
		return v[0]
	},
}

func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if unicode.IsSpace(prev) {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

// rendered is a message's text as stored: the subject and the plain-text
// body (an SMS has only a body).
type rendered struct {
	subject, body string
}

func (mt *messageTemplates) render(channel string, data map[string]any) (rendered, error) {
	if channel == ViaSMS {
		body, err := execText(mt.sms, data)
		return rendered{body: strings.TrimSpace(body)}, err
	}
	subject, err := execText(mt.subject, data)
	if err != nil {
		return rendered{}, err
	}
	body, err := execText(mt.text, data)
	return rendered{subject: strings.TrimSpace(subject), body: body}, err
}

func (mt *messageTemplates) renderHTML(data map[string]any) (string, error) {
	var b bytes.Buffer
	if err := mt.html.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

func execText(t *texttemplate.Template, data map[string]any) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
