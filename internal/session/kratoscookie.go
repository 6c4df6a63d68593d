package session

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"strconv"
	"time"
)

// Kratos's session cookie, read so that moving from Kratos signs nobody
// out: browsers keep sending the cookie Kratos set until it is replaced.
// Kratos writes it with gorilla/securecookie, keyed per secrets.cookie
// entry with the secret as HMAC-SHA256 key and SHA-256 of the secret as
// AES-256 key. The cookie value is
//
//	base64url(date "|" base64url(iv || AES-CTR(gob(values))) "|" mac)
//
// where mac is the HMAC of name "|" date "|" value, the date is in Unix
// seconds and values is a gob-encoded map holding "session_token" and
// "expires_at" (RFC 3339). Lanyard only reads this format; it writes its
// own.

// kratosCookieMaxLength is securecookie's limit on encoded values.
const kratosCookieMaxLength = 4096

type kratosKey struct {
	mac   []byte
	block cipher.Block
}

func kratosKeys(secrets []string) ([]kratosKey, error) {
	keys := make([]kratosKey, 0, len(secrets))
	for _, s := range secrets {
		sum := sha256.Sum256([]byte(s))
		block, err := aes.NewCipher(sum[:])
		if err != nil {
			return nil, err
		}
		keys = append(keys, kratosKey{mac: []byte(s), block: block})
	}
	return keys, nil
}

// decodeKratos answers the session token of a Kratos session cookie named
// name, if one of the secrets signed it and it has not expired.
func decodeKratos(keys []kratosKey, name, value string, now time.Time) (string, bool) {
	if len(keys) == 0 || len(value) > kratosCookieMaxLength {
		return "", false
	}
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		return "", false
	}
	date, rest, ok := bytes.Cut(raw, []byte("|"))
	if !ok {
		return "", false
	}
	sealed, mac, ok := bytes.Cut(rest, []byte("|"))
	if !ok {
		return "", false
	}
	signed := make([]byte, 0, len(name)+1+len(raw)-len(mac)-1)
	signed = append(append(append(signed, name...), '|'), raw[:len(raw)-len(mac)-1]...)
	var key *kratosKey
	for k := range keys {
		h := hmac.New(sha256.New, keys[k].mac)
		h.Write(signed)
		// hmac.Equal compares in constant time.
		if hmac.Equal(h.Sum(nil), mac) && key == nil {
			key = &keys[k]
		}
	}
	if key == nil {
		return "", false
	}
	if _, err := strconv.ParseInt(string(date), 10, 64); err != nil {
		return "", false
	}
	box, err := base64.URLEncoding.DecodeString(string(sealed))
	if err != nil || len(box) <= aes.BlockSize {
		return "", false
	}
	plain := make([]byte, len(box)-aes.BlockSize)
	cipher.NewCTR(key.block, box[:aes.BlockSize]).XORKeyStream(plain, box[aes.BlockSize:])
	var values map[any]any
	if gob.NewDecoder(bytes.NewReader(plain)).Decode(&values) != nil {
		return "", false
	}
	token, _ := values["session_token"].(string)
	if token == "" {
		return "", false
	}
	// The session row decides validity; a cookie past its own expiry is
	// refused as Kratos's browser would have dropped it.
	if s, ok := values["expires_at"].(string); ok {
		if exp, err := time.Parse(time.RFC3339Nano, s); err == nil && !now.Before(exp) {
			return "", false
		}
	}
	return token, true
}
