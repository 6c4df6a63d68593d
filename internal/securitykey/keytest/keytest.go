// Package keytest is what tests of security keys share: a software
// credential that always verifies. Only tests import it.
package keytest

import (
	"crypto/ecdsa"
	"crypto/x509"

	"github.com/descope/virtualwebauthn"
)

// NewCredential is virtualwebauthn.NewCredential(KeyTypeEC2) without its
// flaw: the library writes the public key's coordinates without their
// leading zero bytes, which about one key in 64 has, and the signatures of
// such a key do not verify. It makes keys until both coordinates are whole.
func NewCredential() virtualwebauthn.Credential {
	for {
		c := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
		k, err := x509.ParsePKCS8PrivateKey(c.Key.Data)
		if err != nil {
			panic("keytest: virtualwebauthn made a key it cannot read: " + err.Error())
		}
		pub, err := k.(*ecdsa.PrivateKey).PublicKey.ECDH()
		if err != nil {
			panic("keytest: " + err.Error())
		}
		if b := pub.Bytes(); b[1] != 0 && b[33] != 0 { // 0x04 || X || Y
			return c
		}
	}
}
