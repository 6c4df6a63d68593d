package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Claims is what a provider says about the user, with the field names of
// Kratos's claims, which Jsonnet mappers read as std.extVar('claims').
// Empty fields are left out of the JSON.
type Claims struct {
	Issuer              string         `json:"iss,omitempty"`
	Subject             string         `json:"sub,omitempty"`
	Object              string         `json:"oid,omitempty"`
	Name                string         `json:"name,omitempty"`
	GivenName           string         `json:"given_name,omitempty"`
	FamilyName          string         `json:"family_name,omitempty"`
	LastName            string         `json:"last_name,omitempty"`
	MiddleName          string         `json:"middle_name,omitempty"`
	Nickname            string         `json:"nickname,omitempty"`
	PreferredUsername   string         `json:"preferred_username,omitempty"`
	Profile             string         `json:"profile,omitempty"`
	Picture             string         `json:"picture,omitempty"`
	Website             string         `json:"website,omitempty"`
	Email               string         `json:"email,omitempty"`
	EmailVerified       bool           `json:"email_verified,omitempty"`
	Gender              string         `json:"gender,omitempty"`
	Birthdate           string         `json:"birthdate,omitempty"`
	Zoneinfo            string         `json:"zoneinfo,omitempty"`
	Locale              string         `json:"locale,omitempty"`
	PhoneNumber         string         `json:"phone_number,omitempty"`
	PhoneNumberVerified bool           `json:"phone_number_verified,omitempty"`
	UpdatedAt           int64          `json:"updated_at,omitempty"`
	HD                  string         `json:"hd,omitempty"`
	Team                string         `json:"team,omitempty"`
	Nonce               string         `json:"nonce,omitempty"`
	NonceSupported      bool           `json:"nonce_supported,omitempty"`
	RawClaims           map[string]any `json:"raw_claims,omitempty"`
}

// claimSetters write one Claims field from a JSON value; they are the
// names both id_tokens and preset profile tables use.
var claimSetters = map[string]func(c *Claims, v any){
	"iss":                   str(func(c *Claims) *string { return &c.Issuer }),
	"sub":                   str(func(c *Claims) *string { return &c.Subject }),
	"oid":                   str(func(c *Claims) *string { return &c.Object }),
	"name":                  str(func(c *Claims) *string { return &c.Name }),
	"given_name":            str(func(c *Claims) *string { return &c.GivenName }),
	"family_name":           str(func(c *Claims) *string { return &c.FamilyName }),
	"last_name":             str(func(c *Claims) *string { return &c.LastName }),
	"middle_name":           str(func(c *Claims) *string { return &c.MiddleName }),
	"nickname":              str(func(c *Claims) *string { return &c.Nickname }),
	"preferred_username":    str(func(c *Claims) *string { return &c.PreferredUsername }),
	"profile":               str(func(c *Claims) *string { return &c.Profile }),
	"picture":               str(func(c *Claims) *string { return &c.Picture }),
	"website":               str(func(c *Claims) *string { return &c.Website }),
	"email":                 str(func(c *Claims) *string { return &c.Email }),
	"email_verified":        boolean(func(c *Claims) *bool { return &c.EmailVerified }),
	"gender":                str(func(c *Claims) *string { return &c.Gender }),
	"birthdate":             str(func(c *Claims) *string { return &c.Birthdate }),
	"zoneinfo":              str(func(c *Claims) *string { return &c.Zoneinfo }),
	"locale":                str(func(c *Claims) *string { return &c.Locale }),
	"phone_number":          str(func(c *Claims) *string { return &c.PhoneNumber }),
	"phone_number_verified": boolean(func(c *Claims) *bool { return &c.PhoneNumberVerified }),
	"updated_at":            integer(func(c *Claims) *int64 { return &c.UpdatedAt }),
	"hd":                    str(func(c *Claims) *string { return &c.HD }),
	"team":                  str(func(c *Claims) *string { return &c.Team }),
	"nonce":                 str(func(c *Claims) *string { return &c.Nonce }),
	"nonce_supported":       boolean(func(c *Claims) *bool { return &c.NonceSupported }),
}

func str(field func(*Claims) *string) func(*Claims, any) {
	return func(c *Claims, v any) {
		switch v := v.(type) {
		case string:
			*field(c) = v
		case json.Number:
			*field(c) = v.String()
		case float64:
			// Numeric ids (GitHub, Discord's are strings) become their decimal form.
			*field(c) = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
}

// boolean also accepts "true" and "false", which Apple sends.
func boolean(field func(*Claims) *bool) func(*Claims, any) {
	return func(c *Claims, v any) {
		switch v := v.(type) {
		case bool:
			*field(c) = v
		case string:
			*field(c) = strings.EqualFold(v, "true")
		}
	}
}

func integer(field func(*Claims) *int64) func(*Claims, any) {
	return func(c *Claims, v any) {
		switch v := v.(type) {
		case json.Number:
			if n, err := v.Int64(); err == nil {
				*field(c) = n
			}
		case float64:
			*field(c) = int64(v)
		}
	}
}

// claimsFrom reads standard claim names out of raw, which it keeps as
// RawClaims.
func claimsFrom(raw map[string]any) *Claims {
	c := &Claims{RawClaims: raw}
	for name, set := range claimSetters {
		if v, ok := raw[name]; ok {
			set(c, v)
		}
	}
	// Slack's id_token names the workspace under its own claim.
	if team, ok := raw["https://slack.com/team_id"].(string); ok && c.Team == "" {
		c.Team = team
	}
	return c
}

// claimsFromProfile maps a preset's API answer with its table of paths.
func claimsFromProfile(raw map[string]any, paths map[string]string) *Claims {
	c := &Claims{RawClaims: raw}
	for name, path := range paths {
		if v, ok := lookup(raw, path); ok {
			claimSetters[name](c, v)
		}
	}
	return c
}

// lookup follows a dotted path through objects and arrays ("images.0.url").
func lookup(v any, path string) (any, bool) {
	for _, key := range strings.Split(path, ".") {
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[key]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			v = node[i]
		default:
			return nil, false
		}
	}
	return v, v != nil
}

// errMissingSubject is returned when a provider's claims lack sub or iss,
// which identify the account.
var errMissingSubject = errors.New("the provider's claims lack sub or iss")

func (c *Claims) check() error {
	if c.Subject == "" || c.Issuer == "" {
		return errMissingSubject
	}
	return nil
}

func (c *Claims) String() string { return fmt.Sprintf("{iss:%s sub:%s}", c.Issuer, c.Subject) }
