package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// cookieCodec seals the session token into the cookie with AES-GCM, so the
// cookie is both secret and tamper-proof. Every configured secret opens a
// cookie; the first one seals new cookies, which lets secrets rotate.
type cookieCodec struct {
	aeads []cipher.AEAD
	// kratos opens the cookies Kratos set with the same secrets, named
	// kratosName (kratoscookie.go).
	kratos     []kratosKey
	kratosName string
}

func newCookieCodec(secrets []string) (*cookieCodec, error) {
	if len(secrets) == 0 {
		return nil, errors.New("session: no cookie secret configured")
	}
	c := &cookieCodec{}
	for _, s := range secrets {
		key := sha256.Sum256([]byte(s))
		block, err := aes.NewCipher(key[:])
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		c.aeads = append(c.aeads, aead)
	}
	kratos, err := kratosKeys(secrets)
	if err != nil {
		return nil, err
	}
	c.kratos, c.kratosName = kratos, "ory_kratos_session"
	return c, nil
}

type cookiePayload struct {
	Token     string `json:"t"`
	ExpiresAt int64  `json:"e"`
}

func (c *cookieCodec) encode(token string, expiresAt time.Time) string {
	plain, _ := json.Marshal(cookiePayload{Token: token, ExpiresAt: expiresAt.Unix()})
	aead := c.aeads[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte("session")))
}

func (c *cookieCodec) decode(value string) (string, bool) {
	if token, ok := c.decodeOwn(value); ok {
		return token, true
	}
	return decodeKratos(c.kratos, c.kratosName, value, time.Now())
}

func (c *cookieCodec) decodeOwn(value string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return "", false
	}
	for _, aead := range c.aeads {
		if len(raw) < aead.NonceSize() {
			return "", false
		}
		plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte("session"))
		if err != nil {
			continue
		}
		var p cookiePayload
		if json.Unmarshal(plain, &p) != nil || time.Now().Unix() > p.ExpiresAt {
			return "", false
		}
		return p.Token, true
	}
	return "", false
}
