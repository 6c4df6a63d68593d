package conformance

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"
)

const stAgent = "lanyard-conformance-device/1.0"

func TestSessionsMine_ListsOtherActiveSessionsWithDevices(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		ctx := context.Background()
		me := stRegister(t, s, "st-mine")
		agent := http.Header{"User-Agent": {stAgent}}
		phone := stLogin(t, s, me.Email, testPassword, agent)
		laptop := stLogin(t, s, me.Email, testPassword, agent)
		gone := stLogin(t, s, me.Email, testPassword, agent)
		stranger := stRegister(t, s, "st-mine-stranger")
		res, err := s.Admin.IdentityAPI.DisableSession(ctx, gone.SessionID).Execute()
		requireOK(t, res, err, http.StatusNoContent)

		list, res, err := s.Public.FrontendAPI.ListMySessions(ctx).XSessionToken(me.Token).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got, want := stSessionIDs(list), []string{phone.SessionID, laptop.SessionID}; !stSameSet(got, want) {
			t.Fatalf("listMySessions = %v, want the other active sessions %v (not the current %s, the revoked %s or %s's)",
				got, want, me.SessionID, gone.SessionID, stranger.Email)
		}
		for _, sess := range list {
			if sess.Active == nil || !*sess.Active {
				t.Errorf("session %s: active = %v, want true", sess.Id, sess.Active)
			}
			if sess.Identity == nil || sess.Identity.Id != me.IdentityID {
				t.Errorf("session %s: identity = %s, want %s expanded", sess.Id, asJSON(sess.Identity), me.IdentityID)
			}
			if sess.ExpiresAt == nil || sess.AuthenticatedAt == nil {
				t.Errorf("session %s lacks expires_at/authenticated_at: %s", sess.Id, asJSON(sess))
			}
			if len(sess.Devices) == 0 {
				t.Errorf("session %s has no devices", sess.Id)
				continue
			}
			d := sess.Devices[0]
			if d.Id == "" || d.GetUserAgent() != stAgent || d.GetIpAddress() != "127.0.0.1" {
				t.Errorf("session %s device = %s, want an id, user_agent %q and ip_address 127.0.0.1", sess.Id, asJSON(d), stAgent)
			}
		}

		// A browser session lists the same way by its cookie.
		b := stBrowserLogin(t, s, me.Email, testPassword)
		list, res, err = b.sdk.FrontendAPI.ListMySessions(ctx).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got := stSessionIDs(list); len(got) != 3 || !slices.Contains(got, me.SessionID) {
			t.Errorf("listMySessions by cookie = %v, want 3 sessions including %s", got, me.SessionID)
		}

		_, res, err = s.Public.FrontendAPI.ListMySessions(ctx).Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusUnauthorized)
		_, res, err = s.Public.FrontendAPI.ListMySessions(ctx).XSessionToken(gone.Token).Execute()
		status, body = sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusUnauthorized)
	})
}

func TestSessionsMine_PaginatesOverMoreThanOnePage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		ctx := context.Background()
		me := stRegister(t, s, "st-pages")
		var want []string
		for i := 0; i < 7; i++ {
			want = append(want, stLogin(t, s, me.Email, testPassword, nil).SessionID)
		}

		var got []string
		var sizes []int
		token := ""
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatalf("more than 5 pages of 3 for 7 sessions: pagination does not end (so far %v)", got)
			}
			req := s.Public.FrontendAPI.ListMySessions(ctx).XSessionToken(me.Token).PageSize(3)
			if token != "" {
				req = req.PageToken(token)
			}
			list, res, err := req.Execute()
			requireOK(t, res, err, http.StatusOK)
			got = append(got, stSessionIDs(list)...)
			sizes = append(sizes, len(list))
			links := parseLink(res.Header.Get("Link"))
			if page == 0 && links["first"] == nil {
				t.Errorf("Link header %q has no rel=first", res.Header.Get("Link"))
			}
			next := links["next"]
			if next == nil {
				break
			}
			if next.Path != "/sessions" || next.Query().Get("page_size") != "3" {
				t.Errorf("rel=next = %s, want /sessions with page_size=3", next)
			}
			token = next.Query().Get("page_token")
			if token == "" {
				t.Fatalf("rel=next has no page_token: %s", res.Header.Get("Link"))
			}
		}
		if !slices.Equal(sizes, []int{3, 3, 1}) {
			t.Errorf("page sizes = %v, want [3 3 1]", sizes)
		}
		if !stSameSet(got, want) {
			t.Errorf("pages hold %v, want each of %v exactly once", got, want)
		}
		if slices.Contains(got, me.SessionID) {
			t.Errorf("the current session %s is listed", me.SessionID)
		}

		res := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/sessions?page_size=3&page_token=garbage", nil, tokenHeader(me.Token))
		requireError(t, res.status, res.body, http.StatusBadRequest)
	})
}

func TestSessionsMine_DisableOneSession(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		ctx := context.Background()
		me := stRegister(t, s, "st-disable")
		other := stLogin(t, s, me.Email, testPassword, nil)
		stranger := stRegister(t, s, "st-disable-stranger")

		res, err := s.Public.FrontendAPI.DisableMySession(ctx, other.SessionID).XSessionToken(me.Token).Execute()
		requireOK(t, res, err, http.StatusNoContent)
		stRequireWhoami(t, s, http.StatusUnauthorized, "the revoked session", other)
		stRequireWhoami(t, s, http.StatusOK, "the revoking session", me)

		t.Run("current session is refused", func(t *testing.T) {
			res, err := s.Public.FrontendAPI.DisableMySession(ctx, me.SessionID).XSessionToken(me.Token).Execute()
			status, body := sdkFailure(t, res, err)
			requireError(t, status, body, http.StatusBadRequest)
			stRequireWhoami(t, s, http.StatusOK, "the current session after the refusal", me)
		})

		t.Run("another identity's session is untouched", func(t *testing.T) {
			foreign := s.do(t, http.MethodDelete, s.PublicURL+"/sessions/"+stranger.SessionID, nil, tokenHeader(me.Token))
			unknown := s.do(t, http.MethodDelete, s.PublicURL+"/sessions/"+uuid.NewString(), nil, tokenHeader(me.Token))
			if foreign.status != http.StatusNoContent {
				t.Errorf("revoking another identity's session: status %d, want 204: %s", foreign.status, foreign.body)
			}
			if foreign.status != unknown.status || string(foreign.body) != string(unknown.body) {
				t.Errorf("another identity's session (%d %s) and an unknown one (%d %s) answer differently",
					foreign.status, foreign.body, unknown.status, unknown.body)
			}
			stRequireWhoami(t, s, http.StatusOK, "the other identity's session", stranger)
		})

		t.Run("without a session", func(t *testing.T) {
			res, err := s.Public.FrontendAPI.DisableMySession(ctx, stranger.SessionID).Execute()
			status, body := sdkFailure(t, res, err)
			requireError(t, status, body, http.StatusUnauthorized)
			stRequireWhoami(t, s, http.StatusOK, "the targeted session", stranger)
		})
	})
}

func TestSessionsMine_DisableAllOtherSessions(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		ctx := context.Background()
		me := stRegister(t, s, "st-others")
		others := []stUser{
			stLogin(t, s, me.Email, testPassword, nil),
			stLogin(t, s, me.Email, testPassword, nil),
			stLogin(t, s, me.Email, testPassword, nil),
		}
		stranger := stRegister(t, s, "st-others-stranger")

		count, res, err := s.Public.FrontendAPI.DisableMyOtherSessions(ctx).XSessionToken(me.Token).Execute()
		requireOK(t, res, err, http.StatusOK)
		if count.Count == nil || *count.Count != 3 {
			t.Errorf("count = %s, want 3", asJSON(count))
		}
		stRequireWhoami(t, s, http.StatusUnauthorized, "revoked sessions", others...)
		stRequireWhoami(t, s, http.StatusOK, "the current and a stranger's session", me, stranger)

		list, res, err := s.Public.FrontendAPI.ListMySessions(ctx).XSessionToken(me.Token).Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(list) != 0 {
			t.Errorf("listMySessions after revoking all others = %v, want none", stSessionIDs(list))
		}

		count, res, err = s.Public.FrontendAPI.DisableMyOtherSessions(ctx).XSessionToken(me.Token).Execute()
		requireOK(t, res, err, http.StatusOK)
		if count.Count == nil || *count.Count != 0 {
			t.Errorf("second call: count = %s, want 0", asJSON(count))
		}

		_, res, err = s.Public.FrontendAPI.DisableMyOtherSessions(ctx).Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusUnauthorized)
	})
}

func TestSessionsIdentity_DeletedOrInactiveHasNoValidSession(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		ctx := context.Background()

		t.Run("inactive", func(t *testing.T) {
			u := stRegister(t, s, "st-inactive")
			b := stBrowserLogin(t, s, u.Email, testPassword)
			_, res, err := s.Admin.IdentityAPI.PatchIdentity(ctx, u.IdentityID).JsonPatch([]ory.JsonPatch{
				{Op: "replace", Path: "/state", Value: "inactive"},
			}).Execute()
			requireOK(t, res, err, http.StatusOK)
			stRequireWhoami(t, s, http.StatusUnauthorized, "an inactive identity's session", u)
			if status, _, who := s.whoami(t, b.http, nil); status != http.StatusUnauthorized {
				t.Errorf("whoami by cookie of an inactive identity: %d %s", status, who.body)
			}
			_, res, err = s.Public.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(u.Token).Execute()
			status, body := sdkFailure(t, res, err)
			requireError(t, status, body, http.StatusUnauthorized)
			_, res, err = s.Public.FrontendAPI.ListMySessions(ctx).XSessionToken(u.Token).Execute()
			status, body = sdkFailure(t, res, err)
			requireError(t, status, body, http.StatusUnauthorized)
		})

		t.Run("deleted", func(t *testing.T) {
			u := stRegister(t, s, "st-deleted")
			other := stLogin(t, s, u.Email, testPassword, nil)
			res, err := s.Admin.IdentityAPI.DeleteIdentity(ctx, u.IdentityID).Execute()
			requireOK(t, res, err, http.StatusNoContent)
			stRequireWhoami(t, s, http.StatusUnauthorized, "a deleted identity's session", u, other)
			_, res, err = s.Admin.IdentityAPI.GetSession(ctx, u.SessionID).Execute()
			if err == nil {
				t.Errorf("getSession of a deleted identity's session answers %d, want 404", res.StatusCode)
			} else if status, body := sdkFailure(t, res, err); status != http.StatusNotFound {
				t.Errorf("getSession of a deleted identity's session: %d, want 404: %s", status, body)
			}
		})
	})
}
