package hasher

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strings"
)

// The crypt(3) family: MD5-crypt (Poul-Henning Kamp) and SHA-crypt (Ulrich
// Drepper's "Unix crypt using SHA-256 and SHA-512"). Kratos imports them as
// "$md5-crypt$", "$sha256-crypt$" and "$sha512-crypt$"; the native "$1$",
// "$5$" and "$6$" prefixes are accepted as well.

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendCrypt64 appends the n low-order six-bit groups of b2‖b1‖b0, least
// significant first, as crypt's base64 does.
func appendCrypt64(dst []byte, b2, b1, b0 byte, n int) []byte {
	w := uint32(b2)<<16 | uint32(b1)<<8 | uint32(b0)
	for range n {
		dst = append(dst, cryptAlphabet[w&0x3f])
		w >>= 6
	}
	return dst
}

// cryptHash holds the salt and encoded checksum of a crypt(3) string.
type cryptHash struct {
	salt   []byte
	want   []byte
	rounds int
	derive func(password, salt []byte, rounds int) []byte
}

func (c *cryptHash) matches(password []byte) (bool, error) {
	return equal(c.derive(password, c.salt, c.rounds), c.want), nil
}

// splitCrypt separates "<prefix>[rounds=N$]salt$checksum".
func splitCrypt(s, what string, maxSalt, sumLen int, withRounds bool) (salt, sum, rounds string, err error) {
	_, rest, _ := strings.Cut(s[1:], "$")
	if withRounds {
		if r, after, ok := strings.Cut(rest, "$"); ok && strings.HasPrefix(r, "rounds=") {
			rounds, rest = strings.TrimPrefix(r, "rounds="), after
		}
	}
	salt, sum, ok := strings.Cut(rest, "$")
	if !ok || strings.Contains(sum, "$") {
		return "", "", "", malformed("%s: want salt$checksum", what)
	}
	if len(salt) > maxSalt {
		return "", "", "", malformed("%s: salt longer than %d characters", what, maxSalt)
	}
	if len(sum) != sumLen {
		return "", "", "", malformed("%s: checksum of %d characters, want %d", what, len(sum), sumLen)
	}
	for i := 0; i < len(sum); i++ {
		if !inAlphabet(cryptAlphabet, sum[i]) {
			return "", "", "", malformed("%s: invalid checksum character", what)
		}
	}
	return salt, sum, rounds, nil
}

func parseMD5Crypt(s string) (verifier, error) {
	salt, sum, _, err := splitCrypt(s, "md5-crypt", 8, 22, false)
	if err != nil {
		return nil, err
	}
	return &cryptHash{salt: []byte(salt), want: []byte(sum), derive: md5Crypt}, nil
}

func md5Crypt(pw, salt []byte, _ int) []byte {
	h := md5.New()
	h.Write(pw)
	h.Write(salt)
	h.Write(pw)
	alt := h.Sum(nil)

	h.Reset()
	h.Write(pw)
	h.Write([]byte("$1$"))
	h.Write(salt)
	for n := len(pw); n > 0; n -= md5.Size {
		h.Write(alt[:min(n, md5.Size)])
	}
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write([]byte{0})
		} else {
			h.Write(pw[:1])
		}
	}
	sum := h.Sum(nil)

	for i := range 1000 {
		h.Reset()
		if i&1 != 0 {
			h.Write(pw)
		} else {
			h.Write(sum)
		}
		if i%3 != 0 {
			h.Write(salt)
		}
		if i%7 != 0 {
			h.Write(pw)
		}
		if i&1 != 0 {
			h.Write(sum)
		} else {
			h.Write(pw)
		}
		sum = h.Sum(sum[:0])
	}

	out := make([]byte, 0, 22)
	for _, g := range [5][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		out = appendCrypt64(out, sum[g[0]], sum[g[1]], sum[g[2]], 4)
	}
	return appendCrypt64(out, 0, 0, sum[11], 2)
}

// Byte order of the final SHA-crypt encoding: triples, then the tail.
var (
	sha256CryptOrder = [][3]int{
		{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
		{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29},
	}
	sha512CryptOrder = [][3]int{
		{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
		{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51},
		{31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35},
		{15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19},
		{62, 20, 41},
	}
)

const (
	shaCryptDefaultRounds = 5000
	shaCryptMinRounds     = 1000
)

func parseSHACrypt(s string) (verifier, error) {
	is512 := strings.HasPrefix(s, "$6$") || strings.HasPrefix(s, "$sha512-crypt$")
	what, sumLen, derive := "sha256-crypt", 43, sha256Crypt
	if is512 {
		what, sumLen, derive = "sha512-crypt", 86, sha512Crypt
	}
	salt, sum, r, err := splitCrypt(s, what, 16, sumLen, true)
	if err != nil {
		return nil, err
	}
	rounds := shaCryptDefaultRounds
	if r != "" {
		n, err := parseUint(r, maxIterations)
		if err != nil {
			return nil, malformed("%s: rounds: %v", what, err)
		}
		// crypt(3) clamps low counts rather than refusing them.
		rounds = max(int(n), shaCryptMinRounds)
	}
	return &cryptHash{salt: []byte(salt), want: []byte(sum), rounds: rounds, derive: derive}, nil
}

func sha256Crypt(pw, salt []byte, rounds int) []byte {
	sum := shaCrypt(sha256.New, pw, salt, rounds)
	out := make([]byte, 0, 43)
	for _, g := range sha256CryptOrder {
		out = appendCrypt64(out, sum[g[0]], sum[g[1]], sum[g[2]], 4)
	}
	return appendCrypt64(out, 0, sum[31], sum[30], 3)
}

func sha512Crypt(pw, salt []byte, rounds int) []byte {
	sum := shaCrypt(sha512.New, pw, salt, rounds)
	out := make([]byte, 0, 86)
	for _, g := range sha512CryptOrder {
		out = appendCrypt64(out, sum[g[0]], sum[g[1]], sum[g[2]], 4)
	}
	return appendCrypt64(out, 0, 0, sum[63], 2)
}

// shaCrypt returns the raw digest of the SHA-crypt algorithm.
func shaCrypt(newHash func() hash.Hash, pw, salt []byte, rounds int) []byte {
	h := newHash()
	size := h.Size()

	h.Write(pw)
	h.Write(salt)
	h.Write(pw)
	b := h.Sum(nil)

	h.Reset()
	h.Write(pw)
	h.Write(salt)
	n := len(pw)
	for ; n > size; n -= size {
		h.Write(b)
	}
	h.Write(b[:n])
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(pw)
		}
	}
	a := h.Sum(nil)

	h.Reset()
	for range len(pw) {
		h.Write(pw)
	}
	p := repeatTo(h.Sum(nil), len(pw))

	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(salt)
	}
	s := repeatTo(h.Sum(nil), len(salt))

	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	return c
}

// repeatTo repeats d to exactly n bytes.
func repeatTo(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, d[:min(len(d), n-len(out))]...)
	}
	return out
}
