package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

// searchAll lists identities matching query through the admin API, following
// the Link header's rel=next page by page, and answers their ids in order.
func (s *Server) searchAll(t *testing.T, query string) []string {
	t.Helper()
	next := s.AdminURL + "/admin/identities?" + query
	var ids []string
	for page := 0; next != ""; page++ {
		if page > 50 {
			t.Fatalf("%s: paging does not end", query)
		}
		res := s.do(t, http.MethodGet, next, nil, nil)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", next, res.status, res.body)
		}
		var got []ory.Identity
		if err := json.Unmarshal(res.body, &got); err != nil {
			t.Fatal(err)
		}
		for _, i := range got {
			ids = append(ids, i.Id)
		}
		next = ""
		if u := parseLink(res.header.Get("Link"))["next"]; u != nil && len(got) > 0 {
			if u.Query().Get("page_token") == "" {
				t.Fatalf("Link rel=next without page_token: %s", res.header.Get("Link"))
			}
			next = u.String()
		}
	}
	return ids
}

func TestIdentitySearch(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		create := func(email, last string) string {
			b := withPassword(identityBody(email), testPassword)
			b.Traits = map[string]any{"email": email, "name": map[string]any{"first": "Ada", "last": last}}
			return s.createIdentity(t, b).Id
		}
		var lovelaces []string
		for _, e := range []string{"Ada@Example.org", "ada.b@example.org", "ADA.C@example.net", "ada.d@example.net", "ada.e@example.net"} {
			lovelaces = append(lovelaces, create(e, "Lovelace"))
		}
		grace := create("grace@example.org", "Hopper")
		sort.Strings(lovelaces)
		join := func(ids []string) string { return strings.Join(ids, ",") }

		// Paging through the matches, two at a time, by page_token.
		if got := s.searchAll(t, "trait=name.last&trait_value=LOVELACE&page_size=2"); join(got) != join(lovelaces) {
			t.Errorf("trait=name.last: %v; want %v", got, lovelaces)
		}
		if got := s.searchAll(t, "trait=email&trait_value="+url.QueryEscape("ada@EXAMPLE.org")); len(got) != 1 || got[0] != lovelaces[indexOf(t, s, lovelaces, "ada@example.org")] {
			t.Errorf("trait=email: %v; want Ada", got)
		}
		if got := s.searchAll(t, "identifier_prefix=ADA&page_size=1"); join(got) != join(lovelaces) {
			t.Errorf("identifier_prefix=ADA: %v; want %v", got, lovelaces)
		}
		if got := s.searchAll(t, "identifier_prefix=Grace"); len(got) != 1 || got[0] != grace {
			t.Errorf("identifier_prefix=Grace: %v; want Grace", got)
		}
		if got := s.searchAll(t, "identifier_prefix="+url.QueryEscape("%")); len(got) != 0 {
			t.Errorf("identifier_prefix=%%: %v; want nothing", got)
		}
		// Combined with Kratos's own filter and with each other.
		if got := s.searchAll(t, "identifier_prefix=ada&trait=name.last&trait_value=lovelace&credentials_identifier="+url.QueryEscape("ADA.C@example.net")); len(got) != 1 {
			t.Errorf("combined: %v; want one identity", got)
		}
		if got := s.searchAll(t, "trait=name.last&trait_value=hopper&credentials_identifier="+url.QueryEscape("ada@example.org")); len(got) != 0 {
			t.Errorf("disjoint filters: %v; want nothing", got)
		}

		// A changed trait is found by its new value only.
		body := identityBody("grace@example.org")
		_, res, err := s.Admin.IdentityAPI.UpdateIdentity(t.Context(), grace).UpdateIdentityBody(ory.UpdateIdentityBody{
			SchemaId: body.SchemaId, State: "active", Traits: map[string]any{"email": "grace@example.org", "name": map[string]any{"last": "Murray"}},
		}).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got := s.searchAll(t, "trait=name.last&trait_value=hopper"); len(got) != 0 {
			t.Errorf("old value still found: %v", got)
		}
		if got := s.searchAll(t, "trait=name.last&trait_value=murray"); len(got) != 1 || got[0] != grace {
			t.Errorf("new value: %v; want Grace", got)
		}

		long := strings.Repeat("a", 257)
		for _, q := range []string{
			"trait=", "trait=" + long + "&trait_value=x", "trait=na%20me&trait_value=x", "trait=" + url.QueryEscape("email'--") + "&trait_value=x",
			"trait=email", "trait_value=x", "trait=email&trait_value=" + long,
			"identifier_prefix=", "identifier_prefix=" + long, "identifier_prefix=%FF",
		} {
			res := s.do(t, http.MethodGet, s.AdminURL+"/admin/identities?"+q, nil, nil)
			requireError(t, res.status, res.body, http.StatusBadRequest)
		}
		s.requireCount(t, 6, "the searches")
	})
}

// indexOf answers the position in ids of the identity with this password
// identifier.
func indexOf(t *testing.T, s *Server, ids []string, identifier string) int {
	t.Helper()
	for k, id := range ids {
		got := s.getIdentity(t, id, "password")
		if c, ok := got.GetCredentials()["password"]; ok && len(c.Identifiers) == 1 && c.Identifiers[0] == identifier {
			return k
		}
	}
	t.Fatalf("no identity with identifier %s", identifier)
	return -1
}
