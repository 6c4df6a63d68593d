package courier

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	mail "github.com/wneessen/go-mail"

	"github.com/lanyard-id/lanyard/internal/config"
)

// smtpSender sends emails with go-mail. The connection URI follows Kratos:
// smtp:// uses mandatory STARTTLS unless ?disable_starttls=true, smtps://
// uses implicit TLS, ?skip_ssl_verify=true accepts any certificate and
// ?server_name= sets the name the certificate must carry.
type smtpSender struct {
	opts     []mail.Option
	host     string
	from     string
	fromName string
	headers  map[string]string
	c        *Courier
}

func newSMTPSender(cfg config.CourierSMTP, c *Courier) (*smtpSender, error) {
	// The URI holds a password: errors describe it without quoting it.
	u, err := url.Parse(cfg.ConnectionURI)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("config key \"courier.smtp.connection_uri\": expected smtp:// or smtps:// with a host")
	}
	q := u.Query()
	skipVerify, _ := strconv.ParseBool(q.Get("skip_ssl_verify"))
	noStartTLS, _ := strconv.ParseBool(q.Get("disable_starttls"))
	serverName := q.Get("server_name")
	if serverName == "" {
		serverName = u.Hostname()
	}
	tlsConfig := &tls.Config{ServerName: serverName, InsecureSkipVerify: skipVerify, MinVersion: tls.VersionTLS12} // #nosec G402 -- opt-in via skip_ssl_verify, as in Kratos
	if cfg.ClientCertPath != "" || cfg.ClientKeyPath != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertPath, cfg.ClientKeyPath)
		if err != nil {
			return nil, fmt.Errorf("config keys \"courier.smtp.client_cert_path\" and \"client_key_path\": %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	port := 25
	if u.Scheme == "smtps" {
		port = 465
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, errors.New("config key \"courier.smtp.connection_uri\": invalid port")
		}
	}
	opts := []mail.Option{
		mail.WithPort(port),
		mail.WithTimeout(sendTimeout),
		mail.WithTLSConfig(tlsConfig),
	}
	if cfg.LocalName != "" {
		opts = append(opts, mail.WithHELO(cfg.LocalName))
	}
	encrypted := true
	switch {
	case u.Scheme == "smtps":
		opts = append(opts, mail.WithSSL())
	case noStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		encrypted = false
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if user := u.User.Username(); user != "" {
		password, _ := u.User.Password()
		auth := mail.SMTPAuthAutoDiscover
		if !encrypted {
			// The operator chose a cleartext connection (typical for a
			// local mail catcher); go-mail refuses PLAIN there unless told.
			auth = mail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(user), mail.WithPassword(password))
	}
	if _, err := mail.NewClient(u.Hostname(), opts...); err != nil {
		return nil, fmt.Errorf("config key \"courier.smtp.connection_uri\": %w", err)
	}
	return &smtpSender{opts: opts, host: u.Hostname(), from: cfg.FromAddress, fromName: cfg.FromName, headers: cfg.Headers, c: c}, nil
}

func (s *smtpSender) send(ctx context.Context, m *message) error {
	msg := mail.NewMsg()
	var err error
	if s.fromName != "" {
		err = msg.FromFormat(s.fromName, s.from)
	} else {
		err = msg.From(s.from)
	}
	if err != nil {
		return permanentError{fmt.Errorf("invalid sender address: %w", err)}
	}
	if err := msg.To(m.Recipient); err != nil {
		return permanentError{fmt.Errorf("invalid recipient address: %w", err)}
	}
	msg.Subject(m.Subject)
	for k, v := range s.headers {
		msg.SetGenHeader(mail.Header(k), v)
	}
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(mail.TypeTextPlain, m.Body)
	if mt := s.c.templates[m.TemplateType]; mt != nil {
		goData, _ := storedData(m.TemplateType, m.Type, m.TemplateData)
		if html, err := mt.renderHTML(goData); err == nil {
			msg.AddAlternativeString(mail.TypeTextHTML, html)
		} else {
			s.c.log.Error("courier: rendering the HTML body failed; sending plain text only", "message_id", m.ID, "template_type", m.TemplateType, "error", err)
		}
	}
	// A client per message: go-mail clients are not safe for concurrent
	// use, and each delivery dials anyway.
	client, err := mail.NewClient(s.host, s.opts...)
	if err != nil {
		return err
	}
	err = client.DialAndSendWithContext(ctx, msg)
	var sendErr *mail.SendError
	if errors.As(err, &sendErr) && !sendErr.IsTemp() && sendErr.ErrorCode() >= 500 {
		// 5xx: the server will refuse this message again.
		return permanentError{err}
	}
	return err
}
