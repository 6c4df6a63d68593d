package identity

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Search in the admin identity list, Lanyard's own: Kratos lists by exact
// identifier only.
//
// Trait values are found through identity_trait_search, which holds every
// string of an identity's traits of at most maxSearchValue characters, by
// its dotted path (array elements count under their array's path), lower-
// cased. It is written with the identity in the same transaction, so the
// index and the documents never disagree, and every path is found through
// an index, identifier traits and others alike.
//
// Identifier prefixes are found through identity_credential_identifiers,
// whose identifiers are stored lower-cased, as a byte range on its
// (type, identifier) index.

const (
	// maxSearchValue bounds the strings indexed, and so the values that can
	// be searched for, in characters: a btree entry must stay small.
	maxSearchValue = 256
	// maxSearchPath bounds a dotted path, in characters.
	maxSearchPath = 256
	// maxSearchPrefix bounds an identifier prefix, in characters.
	maxSearchPrefix = 256
	// maxSearchRows bounds the rows one identity writes, so that a schema
	// allowing long arrays of strings cannot turn one registration into
	// thousands of inserts. Paths are taken in sorted order, values in
	// document order.
	maxSearchRows = 256
)

// prefixTypes are the credential types whose identifiers people type; TOTP
// and backup codes have none worth searching, social sign-in subjects are
// the provider's.
var prefixTypes = []string{CredentialsCode, CredentialsPasskey, CredentialsPassword, CredentialsWebAuthn}

// validSearchPath reports whether p can name a trait: 1 to maxSearchPath
// characters out of [A-Za-z0-9_.-].
func validSearchPath(p string) bool {
	if p == "" || len(p) > maxSearchPath {
		return false
	}
	for k := 0; k < len(p); k++ {
		c := p[k]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// TraitSearch selects identities whose trait at Path equals Value, ignoring
// case.
type TraitSearch struct {
	Path  string
	Value string
}

// Validate answers a 400 for a search that cannot name an indexed value.
func (s TraitSearch) Validate() error {
	if !validSearchPath(s.Path) {
		return wire.BadRequest.WithReason("trait must be a dotted path of 1 to %d characters out of A-Z, a-z, 0-9, '_', '.' and '-'.", maxSearchPath)
	}
	if !utf8.ValidString(s.Value) || utf8.RuneCountInString(s.Value) > maxSearchValue {
		return wire.BadRequest.WithReason("trait_value must be valid UTF-8 of at most %d characters.", maxSearchValue)
	}
	return nil
}

// validateIdentifierPrefix answers a 400 for a prefix the search refuses.
func validateIdentifierPrefix(p string) error {
	if !utf8.ValidString(p) || p == "" || utf8.RuneCountInString(p) > maxSearchPrefix {
		return wire.BadRequest.WithReason("identifier_prefix must be valid UTF-8 of 1 to %d characters.", maxSearchPrefix)
	}
	return nil
}

// prefixRange answers the byte range [low, high) of strings starting with
// p; hasHigh is false when no string bounds it (p made of U+10FFFF only).
// UTF-8 orders like code points, and both stores compare these bytes as
// they are.
func prefixRange(p string) (low, high string, hasHigh bool) {
	runes := []rune(p)
	for len(runes) > 0 {
		last := runes[len(runes)-1]
		if last == utf8.MaxRune {
			runes = runes[:len(runes)-1]
			continue
		}
		next := last + 1
		if next >= 0xD800 && next <= 0xDFFF { // surrogates are no characters
			next = 0xE000
		}
		runes[len(runes)-1] = next
		return p, string(runes), true
	}
	return p, "", false
}

// traitRow is one row of identity_trait_search.
type traitRow struct{ path, value string }

// traitRows answers the searchable strings of traits: each string of at
// most maxSearchValue characters, lower-cased, at its dotted path, without
// duplicates, at most maxSearchRows of them.
func traitRows(traits json.RawMessage) []traitRow {
	var doc any
	if json.Unmarshal(traits, &doc) != nil {
		return nil
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil
	}
	var out []traitRow
	seen := map[traitRow]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		if len(out) >= maxSearchRows {
			return
		}
		switch val := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(val))
			for k := range val {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"."+k, val[k])
			}
		case []any:
			for _, e := range val {
				walk(path, e)
			}
		case string:
			path = strings.TrimPrefix(path, ".")
			if !validSearchPath(path) || utf8.RuneCountInString(val) > maxSearchValue {
				return
			}
			r := traitRow{path, strings.ToLower(val)}
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	walk("", obj)
	return out
}

func sameTraitRows(a, b []traitRow) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// insertTraitRows writes the search rows of one identity, a few statements
// whatever their number.
func insertTraitRows(ctx context.Context, q *store.Q, identityID uuid.UUID, rows []traitRow) error {
	const perStatement = 64
	for len(rows) > 0 {
		n := min(len(rows), perStatement)
		var sb strings.Builder
		sb.WriteString(`INSERT INTO identity_trait_search (identity_id, path, value_lower) VALUES `)
		args := make([]any, 0, 3*n)
		for k, r := range rows[:n] {
			if k > 0 {
				sb.WriteString(", ")
			}
			base := len(args)
			sb.WriteString("($" + strconv.Itoa(base+1) + ", $" + strconv.Itoa(base+2) + ", $" + strconv.Itoa(base+3) + ")")
			args = append(args, identityID, r.path, r.value)
		}
		if err := q.Defer(ctx, sb.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// updateTraitRows rewrites the search rows of an identity whose traits went
// from before to after, when that changes them.
func updateTraitRows(ctx context.Context, q *store.Q, identityID uuid.UUID, before, after json.RawMessage) error {
	old, rows := traitRows(before), traitRows(after)
	if sameTraitRows(old, rows) {
		return nil
	}
	if _, err := q.Exec(ctx, `DELETE FROM identity_trait_search WHERE identity_id = $1`, identityID); err != nil {
		return err
	}
	return insertTraitRows(ctx, q, identityID, rows)
}

// searchConditions adds the WHERE conditions of a trait search and an
// identifier prefix to a list query.
func searchConditions(q *store.Q, p listParams, arg func(any) string) []string {
	var where []string
	if p.Trait != nil {
		sub := "SELECT identity_id FROM identity_trait_search WHERE path = " + arg(p.Trait.Path) +
			" AND value_lower = " + arg(strings.ToLower(p.Trait.Value))
		// Keyset inside the subquery too: the index (path, value_lower,
		// identity_id) then starts at the page, whichever page it is.
		if p.After != nil {
			sub += " AND identity_id > " + arg(*p.After)
		}
		if p.IdentifierPrefix == "" && p.Identifier == "" && len(p.IDs) == 0 {
			// Alone, the search is the page: no engine need collect every
			// match before the first hundred.
			sub += " ORDER BY identity_id LIMIT " + arg(p.Limit)
		}
		where = append(where, "i.id IN ("+sub+")")
	}
	if p.IdentifierPrefix != "" {
		ge, lt := ">=", "<"
		if q.Dialect() == store.Postgres {
			ge, lt = "~>=~", "~<~" // byte order, served by the text_pattern_ops index
		}
		types := make([]string, len(prefixTypes))
		for k, t := range prefixTypes {
			types[k] = arg(t)
		}
		low, high, hasHigh := prefixRange(strings.ToLower(p.IdentifierPrefix))
		c := "" // the identifiers' columns, qualified in the correlated form
		if p.DensePrefix {
			c = "c."
		}
		match := c + "type IN (" + strings.Join(types, ", ") + ") AND " + c + "identifier " + ge + " " + arg(low)
		if hasHigh {
			match += " AND " + c + "identifier " + lt + " " + arg(high)
		}
		if q.Dialect() == store.Postgres {
			// The same again as a pattern: PostgreSQL estimates how many rows
			// a LIKE prefix matches from its statistics, but guesses a fixed
			// share for a byte range, and a guess too high on a large table
			// makes it read all of identities instead of following the index.
			match += " AND " + c + "identifier LIKE " + arg(likePrefix(low))
		}
		if p.DensePrefix {
			// Many match: walk identities in id order from the page on and
			// keep those with a matching identifier, instead of collecting
			// every match first (see densePrefix).
			where = append(where, "EXISTS (SELECT 1 FROM identity_credential_identifiers c WHERE c.identity_id = i.id AND "+match+")")
		} else {
			where = append(where, "i.id IN (SELECT identity_id FROM identity_credential_identifiers WHERE "+match+")")
		}
	}
	return where
}

// densePrefixRows is how many matching identifiers make a prefix dense.
// Below it, collecting the matches costs at most that many index rows;
// above it, walking identities in id order finds a page's matches within
// page size × identities / matches rows, at most a twentieth of the table
// for a page of 100.
const densePrefixRows = 2000

// densePrefix reports, on SQLite, whether at least densePrefixRows
// identifiers match the prefix search of p. SQLite's planner always
// collects the matches of an IN subquery, which on a prefix that most
// identities match costs the whole table on every page; PostgreSQL
// chooses between the two plans from its statistics.
func densePrefix(ctx context.Context, q *store.Q, p listParams) (bool, error) {
	if q.Dialect() != store.SQLite || p.IdentifierPrefix == "" {
		return false, nil
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	types := make([]string, len(prefixTypes))
	for k, t := range prefixTypes {
		types[k] = arg(t)
	}
	low, high, hasHigh := prefixRange(strings.ToLower(p.IdentifierPrefix))
	sub := "SELECT 1 FROM identity_credential_identifiers WHERE type IN (" + strings.Join(types, ", ") + ") AND identifier >= " + arg(low)
	if hasHigh {
		sub += " AND identifier < " + arg(high)
	}
	var n int
	err := q.QueryRow(ctx, "SELECT count(*) FROM ("+sub+" LIMIT "+arg(densePrefixRows)+")", args...).Scan(&n)
	return n >= densePrefixRows, err
}

// searchOptions reads Lanyard's search parameters of the admin list:
// trait with trait_value, and identifier_prefix.
func searchOptions(q url.Values, o *ListOptions) error {
	_, hasPath := q["trait"]
	_, hasValue := q["trait_value"]
	switch {
	case hasPath && hasValue:
		s := TraitSearch{Path: q.Get("trait"), Value: q.Get("trait_value")}
		if err := s.Validate(); err != nil {
			return err
		}
		o.Trait = &s
	case hasPath || hasValue:
		return wire.BadRequest.WithReason("trait and trait_value go together.")
	}
	if _, ok := q["identifier_prefix"]; ok {
		p := q.Get("identifier_prefix")
		if err := validateIdentifierPrefix(p); err != nil {
			return err
		}
		o.IdentifierPrefix = p
	}
	return nil
}

// likePrefix is a LIKE pattern matching the strings that start with p.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}
