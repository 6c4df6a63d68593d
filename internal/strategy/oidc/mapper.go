package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-jsonnet"

	"github.com/lanyard-id/lanyard/internal/bodytemplate"
)

// mapperCacheTTL is how long a fetched mapper is reused, as Kratos does.
const mapperCacheTTL = 60 * time.Minute

// Mapper turns claims into identity traits with a Jsonnet program that
// reads std.extVar('claims') and evaluates to {identity: {traits, ...}}.
type Mapper struct {
	hc  *http.Client
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedMapper
}

type cachedMapper struct {
	source  string
	fetched time.Time
}

// NewMapper fetches http(s) mappers with hc (nil: http.DefaultClient).
func NewMapper(hc *http.Client) *Mapper {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Mapper{hc: hc, now: time.Now, cache: map[string]cachedMapper{}}
}

// VerifiedAddress is an address the mapper says the provider verified.
type VerifiedAddress struct {
	Value string `json:"value"`
	Via   string `json:"via"`
}

// Mapped is what a mapper made of the claims.
type Mapped struct {
	Traits            map[string]any
	MetadataPublic    map[string]any
	MetadataAdmin     map[string]any
	VerifiedAddresses []VerifiedAddress
}

// Map runs the mapper at mapperURL (file://, base64:// or http(s)://)
// on c.
func (m *Mapper) Map(ctx context.Context, mapperURL string, c *Claims) (*Mapped, error) {
	src, err := m.source(ctx, mapperURL)
	if err != nil {
		return nil, fmt.Errorf("claims mapper: %w", err)
	}
	claimsJSON, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("claims mapper: %w", err)
	}
	vm := jsonnet.MakeVM()
	// Mappers get the claims and nothing else: no files, no environment.
	vm.Importer(&jsonnet.MemoryImporter{Data: map[string]jsonnet.Contents{}})
	vm.ExtCode("claims", string(claimsJSON))
	out, err := vm.EvaluateAnonymousSnippet("mapper.jsonnet", src)
	if err != nil {
		return nil, fmt.Errorf("claims mapper: evaluating: %v", err)
	}
	var doc struct {
		Identity struct {
			Traits            json.RawMessage `json:"traits"`
			MetadataPublic    json.RawMessage `json:"metadata_public"`
			MetadataAdmin     json.RawMessage `json:"metadata_admin"`
			VerifiedAddresses json.RawMessage `json:"verified_addresses"`
		} `json:"identity"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, errors.New("claims mapper: the result is not an object with identity")
	}
	mapped := &Mapped{}
	if mapped.Traits, err = object(doc.Identity.Traits); err != nil || mapped.Traits == nil {
		return nil, errors.New("claims mapper: identity.traits must be an object")
	}
	if mapped.MetadataPublic, err = object(doc.Identity.MetadataPublic); err != nil {
		return nil, errors.New("claims mapper: identity.metadata_public must be an object")
	}
	if mapped.MetadataAdmin, err = object(doc.Identity.MetadataAdmin); err != nil {
		return nil, errors.New("claims mapper: identity.metadata_admin must be an object")
	}
	if len(doc.Identity.VerifiedAddresses) > 0 && string(doc.Identity.VerifiedAddresses) != "null" {
		if err := json.Unmarshal(doc.Identity.VerifiedAddresses, &mapped.VerifiedAddresses); err != nil {
			return nil, errors.New("claims mapper: identity.verified_addresses must be a list of {value, via}")
		}
		for i, a := range mapped.VerifiedAddresses {
			if a.Via == "email" {
				mapped.VerifiedAddresses[i].Value = strings.ToLower(a.Value)
			}
		}
	}
	return mapped, nil
}

// object decodes a JSON object; absent or null is nil.
func object(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Mapper) source(ctx context.Context, mapperURL string) (string, error) {
	m.mu.Lock()
	cached, ok := m.cache[mapperURL]
	m.mu.Unlock()
	if ok && m.now().Sub(cached.fetched) < mapperCacheTTL {
		return cached.source, nil
	}
	b, err := bodytemplate.Fetch(ctx, m.hc, mapperURL)
	if err != nil {
		return "", err
	}
	src := string(b)
	if _, err := jsonnet.SnippetToAST("mapper.jsonnet", src); err != nil {
		return "", fmt.Errorf("parsing: %v", err)
	}
	m.mu.Lock()
	m.cache[mapperURL] = cachedMapper{source: src, fetched: m.now()}
	m.mu.Unlock()
	return src, nil
}
