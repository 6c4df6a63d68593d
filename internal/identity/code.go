package identity

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/schema"
)

// Channels a one-time code travels by.
const (
	ChannelEmail = schema.ViaEmail
	ChannelSMS   = schema.ViaSMS
)

// codeCredentialVersion is the version of the code credential's config
// shape with a list of addresses; version 0 named one address type.
const codeCredentialVersion = 1

// CodeAddress is one address a sign-in code can be sent to.
type CodeAddress struct {
	Channel string `json:"channel"` // "email" or "sms"
	Address string `json:"address"` // normalised
}

// codeConfig is the config of a code credential as Kratos stores it.
type codeConfig struct {
	Addresses []CodeAddress `json:"addresses"`
}

// codeAddressesOf answers the code addresses the traits yield, without
// duplicates, sorted by address and then channel (Kratos's order).
func codeAddressesOf(x *schema.Extracted) []CodeAddress {
	var out []CodeAddress
	for _, addr := range x.Identifiers[schema.CredentialCode] {
		a := CodeAddress{Channel: x.CodeVia[addr], Address: addr}
		if a.Channel == "" {
			a.Channel = ChannelEmail
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b CodeAddress) int {
		if c := strings.Compare(a.Address, b.Address); c != 0 {
			return c
		}
		return strings.Compare(a.Channel, b.Channel)
	})
	return out
}

// codeCredential is the code credential the traits call for, or nil when
// they yield no code address. A credential the identity had (old, may be
// nil) keeps its id and creation time, and its update time when nothing
// changed.
func codeCredential(x *schema.Extracted, old *Credential, now time.Time) *Credential {
	addrs := codeAddressesOf(x)
	if len(addrs) == 0 {
		return nil
	}
	config, _ := json.Marshal(codeConfig{Addresses: addrs})
	identifiers := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if !slices.Contains(identifiers, a.Address) {
			identifiers = append(identifiers, a.Address)
		}
	}
	c := &Credential{
		ID: uuid.New(), Type: CredentialsCode, Identifiers: identifiers, Config: config,
		Version: codeCredentialVersion, CreatedAt: now, UpdatedAt: now,
	}
	if old == nil {
		return c
	}
	c.ID, c.CreatedAt = old.ID, old.CreatedAt
	// Compared decoded: PostgreSQL keeps JSON in its own key order.
	var was codeConfig
	if old.Version == c.Version && json.Unmarshal(old.Config, &was) == nil && slices.Equal(was.Addresses, addrs) &&
		slices.Equal(sortedCopy(old.Identifiers), identifiers) {
		c.UpdatedAt = old.UpdatedAt
		// Stored identifiers come back ordered by creation; keep what is
		// stored so that the update does not rewrite them.
		c.Identifiers = old.Identifiers
	}
	return c
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// CodeAddresses answers where identity i's sign-in codes may be sent: the
// addresses of its code credential, none without one. The legacy shape
// (version 0) named one channel for all identifiers, which are then the
// addresses.
func CodeAddresses(i *Identity) []CodeAddress {
	c := i.Credentials[CredentialsCode]
	if c == nil {
		return nil
	}
	var cfg struct {
		Addresses   []CodeAddress `json:"addresses"`
		AddressType string        `json:"address_type"`
	}
	if json.Unmarshal(c.Config, &cfg) != nil {
		return nil
	}
	var out []CodeAddress
	for _, a := range cfg.Addresses {
		if a.Address != "" {
			out = append(out, a)
		}
	}
	if len(out) > 0 || cfg.AddressType == "" {
		return out
	}
	channel := ChannelEmail
	if cfg.AddressType == ChannelSMS || cfg.AddressType == "phone" {
		channel = ChannelSMS
	}
	for _, id := range c.Identifiers {
		if id != "" {
			out = append(out, CodeAddress{Channel: channel, Address: id})
		}
	}
	return out
}
