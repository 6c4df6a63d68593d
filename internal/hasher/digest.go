package hasher

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strings"

	//lint:ignore SA1019 MD4 is needed to verify imported HMAC-MD4 hashes only.
	"golang.org/x/crypto/md4"
)

// The formats in this file are fast, unsalted or weakly salted digests that
// Kratos imports for migration only; NeedsRehash replaces them on login.

// digestHash compares a digest of input(password) with want.
type digestHash struct {
	newHash func() hash.Hash
	input   func(password []byte) []byte
	want    []byte
}

func (d *digestHash) matches(password []byte) (bool, error) {
	h := d.newHash()
	h.Write(d.input(password))
	return equal(h.Sum(nil), d.want), nil
}

var shaDigests = map[string]func() hash.Hash{
	"sha1":   sha1.New,
	"sha256": sha256.New,
	"sha512": sha512.New,
}

// parseSSHA reads LDAP "{SSHA}", "{SSHA256}", "{SSHA512}" followed by the
// standard base64 of digest(password‖salt)‖salt.
func parseSSHA(s string) (verifier, error) {
	tag, body, _ := strings.Cut(s[1:], "}")
	newHash := shaDigests["sha"+strings.TrimPrefix(tag, "SSHA")]
	if tag == "SSHA" {
		newHash = sha1.New
	}
	raw, err := decodeB64("ssha", body)
	if err != nil {
		return nil, err
	}
	size := newHash().Size()
	if len(raw) <= size {
		return nil, malformed("ssha: no salt after the %d-byte digest", size)
	}
	salt := raw[size:]
	return &digestHash{
		newHash: newHash,
		input:   func(pw []byte) []byte { return append(append([]byte{}, pw...), salt...) },
		want:    raw[:size],
	}, nil
}

// saltedInput expands a Kratos salting format such as "{SALT}{PASSWORD}".
// A format without {PASSWORD} would accept every password, so it is refused.
func saltedInput(what, encodedFormat, encodedSalt string) (func([]byte) []byte, error) {
	f, ok := strings.CutPrefix(encodedFormat, "pf=")
	if !ok {
		return nil, malformed("%s: want pf=<base64 format>", what)
	}
	format, err := decodeB64(what+" format", f)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(format, []byte("{PASSWORD}")) {
		return nil, malformed("%s: format lacks {PASSWORD}", what)
	}
	salt, err := decodeB64(what+" salt", encodedSalt)
	if err != nil {
		return nil, err
	}
	return func(pw []byte) []byte {
		var out []byte
		for rest := format; len(rest) > 0; {
			switch {
			case bytes.HasPrefix(rest, []byte("{SALT}")):
				out = append(out, salt...)
				rest = rest[len("{SALT}"):]
			case bytes.HasPrefix(rest, []byte("{PASSWORD}")):
				out = append(out, pw...)
				rest = rest[len("{PASSWORD}"):]
			default:
				out = append(out, rest[0])
				rest = rest[1:]
			}
		}
		return out
	}, nil
}

func decodeDigest(what, s string, size int) ([]byte, error) {
	d, err := decodeB64(what, s)
	if err != nil {
		return nil, err
	}
	if len(d) != size {
		return nil, malformed("%s: digest of %d bytes, want %d", what, len(d), size)
	}
	return d, nil
}

// parseSaltedSHA reads "$sha1$pf=<format>$<salt>$<digest>" (also sha256,
// sha512), each field in standard base64.
func parseSaltedSHA(s string) (verifier, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 {
		return nil, malformed("%s: want $%s$pf=..$salt$digest", parts[1], parts[1])
	}
	newHash := shaDigests[parts[1]]
	input, err := saltedInput(parts[1], parts[2], parts[3])
	if err != nil {
		return nil, err
	}
	want, err := decodeDigest(parts[1], parts[4], newHash().Size())
	if err != nil {
		return nil, err
	}
	return &digestHash{newHash: newHash, input: input, want: want}, nil
}

// parseMD5 reads "$md5$<digest>" or "$md5$pf=<format>$<salt>$<digest>".
func parseMD5(s string) (verifier, error) {
	parts := strings.Split(s, "$")
	d := &digestHash{newHash: md5.New, input: func(pw []byte) []byte { return pw }}
	var err error
	switch len(parts) {
	case 3:
	case 5:
		if d.input, err = saltedInput("md5", parts[2], parts[3]); err != nil {
			return nil, err
		}
	default:
		return nil, malformed("md5: want $md5$digest or $md5$pf=..$salt$digest")
	}
	if d.want, err = decodeDigest("md5", parts[len(parts)-1], md5.Size); err != nil {
		return nil, err
	}
	return d, nil
}

var hmacDigests = map[string]func() hash.Hash{
	"md4":    md4.New,
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha224": sha256.New224,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

// hmacHash is "$hmac-<digest>$<base64 of the hex MAC>$<base64 key>".
type hmacHash struct {
	newHash   func() hash.Hash
	want, key []byte
}

func parseHMAC(s string) (verifier, error) {
	parts := strings.Split(s, "$")
	newHash, ok := hmacDigests[strings.TrimPrefix(parts[1], "hmac-")]
	if !ok {
		return nil, ErrUnknownFormat
	}
	if len(parts) != 4 {
		return nil, malformed("%s: want $%s$mac$key", parts[1], parts[1])
	}
	hexMAC, err := decodeB64(parts[1]+" mac", parts[2])
	if err != nil {
		return nil, err
	}
	h := &hmacHash{newHash: newHash}
	if h.want, err = hex.DecodeString(string(hexMAC)); err != nil || len(h.want) != newHash().Size() {
		return nil, malformed("%s: mac is not %d hex-encoded bytes", parts[1], newHash().Size())
	}
	if h.key, err = decodeB64(parts[1]+" key", parts[3]); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *hmacHash) matches(password []byte) (bool, error) {
	m := hmac.New(h.newHash, h.key)
	m.Write(password)
	return equal(m.Sum(nil), h.want), nil
}
