package oidc

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/lanyard-id/lanyard/internal/config"
)

// appleAudience is the audience Apple requires of client secrets.
const appleAudience = "https://appleid.apple.com"

// appleSecretLifetime is how long a signed client secret is valid; a new
// one is made for every code exchange.
const appleSecretLifetime = 5 * time.Minute

// appleClientSecret signs the JWT Apple takes as client secret: ES256
// with the team's private key (PKCS #8 PEM), iss the team, sub the client.
func appleClientSecret(cfg config.OIDCProvider) (string, error) {
	block, _ := pem.Decode([]byte(cfg.ApplePrivateKey))
	if block == nil {
		return "", errors.New("apple_private_key is not a PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", errors.New("apple_private_key is not a PKCS #8 private key")
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return "", errors.New("apple_private_key is not an ECDSA key")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), cfg.ApplePrivateKeyID))
	if err != nil {
		return "", errors.New("apple_private_key cannot sign ES256")
	}
	now := time.Now()
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer:   cfg.AppleTeamID,
		Subject:  cfg.ClientID,
		Audience: jwt.Audience{appleAudience},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(appleSecretLifetime)),
	}).Serialize()
}
