package courier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/lanyard-id/lanyard/internal/bodytemplate"
	"github.com/lanyard-id/lanyard/internal/config"
)

// httpSender delivers a message with one HTTP request, as Kratos's HTTP
// email strategy and SMS channel do. The request body comes from a Jsonnet
// template (request_config.body) called with the message as ctx, or, when
// none is configured, equals what Kratos's default template produces.
type httpSender struct {
	cfg    config.HTTPRequest
	body   *bodytemplate.Template // nil for the default body
	client *http.Client
	c      *Courier
}

func newHTTPSender(cfg config.HTTPRequest, c *Courier) (*httpSender, error) {
	s := &httpSender{cfg: cfg, client: c.outbound.Client(sendTimeout), c: c}
	if cfg.Body != "" {
		b, err := bodytemplate.Load(context.Background(), s.client, "body.jsonnet", cfg.Body)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		s.body = b
	}
	return s, nil
}

// errCancelled is how a body template says "do not send this one": by
// raising error "cancel", as in Kratos.
var errCancelled = bodytemplate.ErrCancelled

func (s *httpSender) send(ctx context.Context, m *message) error {
	goData, jsonData := storedData(m.TemplateType, m.Type, m.TemplateData)
	vars := map[string]any{
		"recipient":     m.Recipient,
		"subject":       m.Subject,
		"body":          m.Body,
		"template_type": m.TemplateType,
		"template_data": jsonData,
		"message_type":  m.Type,
	}
	if mt := s.c.templates[m.TemplateType]; mt != nil && m.Type == TypeEmail {
		if html, err := mt.renderHTML(goData); err == nil {
			vars["html_body"] = html
		}
	}
	payload, err := s.payload(vars)
	if errors.Is(err, errCancelled) {
		s.c.log.Info("courier: the body template cancelled a message", "message_id", m.ID, "template_type", m.TemplateType)
		return nil
	}
	if err != nil {
		return permanentError{err}
	}

	var body io.Reader
	contentType := s.header("Content-Type")
	if s.cfg.Method != http.MethodTrace {
		mt, _, _ := mime.ParseMediaType(contentType)
		switch mt {
		case "", "application/json":
			if contentType == "" {
				contentType = "application/json"
			}
			body = bytes.NewReader(payload)
		case "application/x-www-form-urlencoded":
			form, err := bodytemplate.FormValues(payload)
			if err != nil {
				return permanentError{err}
			}
			body = strings.NewReader(form.Encode())
		default:
			return permanentError{fmt.Errorf("unsupported Content-Type %q (use application/json or application/x-www-form-urlencoded)", mt)}
		}
	}
	req, err := http.NewRequestWithContext(ctx, s.cfg.Method, s.cfg.URL, body)
	if err != nil {
		return permanentError{errors.New("the request could not be built from request_config")}
	}
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	bodytemplate.Authorize(req, s.cfg.Auth)
	res, err := s.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may carry an API key.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s request to %s failed: %w", s.cfg.Method, req.URL.Host, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%s request to %s: the server answered %s", s.cfg.Method, req.URL.Host, res.Status)
	}
	return nil
}

func (s *httpSender) header(name string) string {
	for k, v := range s.cfg.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// payload evaluates the body template, or builds the default body: the
// fields Kratos's built-in template picks from ctx.
func (s *httpSender) payload(vars map[string]any) ([]byte, error) {
	if s.body == nil {
		data, _ := vars["template_data"].(map[string]any)
		pick := func(k string) any {
			if v, ok := data[k]; ok {
				return v
			}
			return nil
		}
		return json.Marshal(map[string]any{
			"recipient":         vars["recipient"],
			"template_type":     vars["template_type"],
			"to":                pick("to"),
			"recovery_code":     pick("recovery_code"),
			"recovery_url":      pick("recovery_url"),
			"verification_url":  pick("verification_url"),
			"verification_code": pick("verification_code"),
			"subject":           vars["subject"],
			"body":              vars["body"],
		})
	}
	return s.body.Evaluate(vars)
}
