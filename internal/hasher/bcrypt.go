package hasher

import (
	"errors"

	"golang.org/x/crypto/bcrypt"
)

// bcryptHash is "$2a$" / "$2b$" / "$2y$", two cost digits, "$", then 22
// salt and 31 hash characters of bcrypt's base64 alphabet.
type bcryptHash struct {
	encoded []byte
	cost    int
}

const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func parseBcrypt(s string) (verifier, error) {
	if len(s) != 60 || s[6] != '$' {
		return nil, malformed("bcrypt: want $2x$NN$ and 53 characters")
	}
	cost, err := parseUint(s[4:6], 99)
	if err != nil {
		return nil, malformed("bcrypt: cost: %v", err)
	}
	if cost < uint64(bcrypt.MinCost) || cost > bcryptMaxCost {
		return nil, malformed("bcrypt: cost %d out of range [%d, %d]", cost, bcrypt.MinCost, bcryptMaxCost)
	}
	for i := 7; i < len(s); i++ {
		if !inAlphabet(bcryptAlphabet, s[i]) {
			return nil, malformed("bcrypt: invalid character at %d", i)
		}
	}
	return &bcryptHash{encoded: []byte(s), cost: int(cost)}, nil
}

func (b *bcryptHash) matches(password []byte) (bool, error) {
	err := bcrypt.CompareHashAndPassword(b.encoded, password)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, malformed("bcrypt: %v", err)
	}
}

func inAlphabet(alphabet string, c byte) bool {
	for i := 0; i < len(alphabet); i++ {
		if alphabet[i] == c {
			return true
		}
	}
	return false
}
